package ntp

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tsFlags asks for software receive and transmit timestamps, the transmit
// one returned through the error queue without the packet (OPT_TSONLY) and
// tagged with a per-socket send counter (OPT_ID) so it is matched to its
// request.
const tsFlags = unix.SOF_TIMESTAMPING_SOFTWARE |
	unix.SOF_TIMESTAMPING_RX_SOFTWARE |
	unix.SOF_TIMESTAMPING_TX_SOFTWARE |
	unix.SOF_TIMESTAMPING_OPT_ID |
	unix.SOF_TIMESTAMPING_OPT_TSONLY

// udpSocket is a non-blocking datagram socket owned by one client.
type udpSocket struct {
	fd     int
	family int
	kernTS bool // SO_TIMESTAMPING accepted
	// icmpErr is the last ICMP error (port unreachable: ECONNREFUSED) the
	// error queue held; IP_RECVERR makes an unconnected socket get them.
	icmpErr error
}

func openSocket(server netip.AddrPort, local netip.Addr, kernelTS bool) (*udpSocket, error) {
	family := unix.AF_INET
	if !server.Addr().Unmap().Is4() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("ntp: socket: %w", err)
	}
	s := &udpSocket{fd: fd, family: family}
	fail := func(what string, err error) (*udpSocket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("ntp: %s: %w", what, err)
	}
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail("IPV6_V6ONLY", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1); err != nil {
			return fail("IPV6_RECVHOPLIMIT", err)
		}
	} else if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVTTL, 1); err != nil {
		return fail("IP_RECVTTL", err)
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		a := &unix.SockaddrInet4{}
		if local.IsValid() {
			a.Addr = local.Unmap().As4()
		}
		sa = a
	} else {
		a := &unix.SockaddrInet6{}
		if local.IsValid() {
			a.Addr = local.As16()
		}
		sa = a
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	// Not fatal: without it a closed port only shows as a timeout.
	if family == unix.AF_INET6 {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
	} else {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
	}
	if kernelTS {
		// Not fatal: without kernel stamps every stamp is a user one.
		s.kernTS = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, tsFlags) == nil
	}
	return s, nil
}

func (s *udpSocket) close() error { return unix.Close(s.fd) }

// takeICMPErr returns and forgets the last ICMP error the error queue held.
func (s *udpSocket) takeICMPErr() error {
	err := s.icmpErr
	s.icmpErr = nil
	return err
}

func sockaddrOf(ap netip.AddrPort) (unix.Sockaddr, error) {
	a := ap.Addr()
	if a.Unmap().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}, nil
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		ifi, err := net.InterfaceByName(z)
		if err != nil {
			return nil, fmt.Errorf("ntp: zone %q: %w", z, err)
		}
		sa.ZoneId = uint32(ifi.Index)
	}
	return sa, nil
}

func addrPortOf(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// rxInfo is what the control messages of a received datagram said.
type rxInfo struct {
	kernNs int64 // software receive timestamp, CLOCK_REALTIME ns; 0 if none
	ttl    int   // -1 if none
}

func parseRxCmsgs(oob []byte) rxInfo {
	info := rxInfo{ttl: -1}
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			break
		}
		oob = rest
		switch {
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPING:
			if len(data) >= int(unsafe.Sizeof(unix.ScmTimestamping{})) {
				ts := (*unix.ScmTimestamping)(unsafe.Pointer(&data[0]))
				info.kernNs = ts.Ts[0].Nano()
			}
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_TTL && len(data) >= 4:
			info.ttl = int(int32(binary.NativeEndian.Uint32(data)))
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_HOPLIMIT && len(data) >= 4:
			info.ttl = int(int32(binary.NativeEndian.Uint32(data)))
		}
	}
	return info
}

// readTxStamp reads one entry of the error queue without blocking. It
// returns the software transmit timestamp (CLOCK_REALTIME ns) and the
// OPT_ID send counter; ok is false when the queue is empty.
func (s *udpSocket) readTxStamp(oob []byte) (ns int64, id uint32, ok bool, err error) {
	var buf [64]byte
	_, oobn, _, _, err := unix.Recvmsg(s.fd, buf[:], oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
	if err == unix.EAGAIN || err == unix.EWOULDBLOCK {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	b := oob[:oobn]
	haveID := false
	for len(b) > 0 {
		h, data, rest, perr := unix.ParseOneSocketControlMessage(b)
		if perr != nil {
			break
		}
		b = rest
		switch {
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPING:
			if len(data) >= int(unsafe.Sizeof(unix.ScmTimestamping{})) {
				ts := (*unix.ScmTimestamping)(unsafe.Pointer(&data[0]))
				ns = ts.Ts[0].Nano()
			}
		case (h.Level == unix.IPPROTO_IP && h.Type == unix.IP_RECVERR) ||
			(h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_RECVERR):
			if len(data) >= int(unsafe.Sizeof(unix.SockExtendedErr{})) {
				ee := (*unix.SockExtendedErr)(unsafe.Pointer(&data[0]))
				switch {
				case ee.Origin == unix.SO_EE_ORIGIN_TIMESTAMPING && ee.Info == unix.SCM_TSTAMP_SND:
					id, haveID = ee.Data, true
				case (ee.Origin == unix.SO_EE_ORIGIN_ICMP || ee.Origin == unix.SO_EE_ORIGIN_ICMP6) && ee.Errno != 0:
					s.icmpErr = unix.Errno(ee.Errno)
				}
			}
		}
	}
	return ns, id, ns != 0 && haveID, nil
}
