package hostclock

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/ntp"
)

// sourceEvent is one outcome of a server's poller, stamped with the
// counter value when the daemon loop took it.
type sourceEvent struct {
	ntp.Event
	now uint64
}

// poll runs one server's ntp.Source (initial burst, poll period, RATE
// back-off, DENY/RSTR stop, re-resolution) until ctx is done, forwarding its
// events to the daemon loop.
func (d *Daemon) poll(ctx context.Context, sc ServerConfig, src *ntp.Source) {
	log := d.log.With(zap.String("server", sc.Address))
	ch := make(chan ntp.Event, 8)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, ch) }()
	for {
		select {
		case ev := <-ch:
			if !d.emit(ctx, ev) {
				<-done
				return
			}
		case err := <-done:
			// Drain what Run sent before it returned.
			for {
				select {
				case ev := <-ch:
					d.emit(ctx, ev)
					continue
				default:
				}
				break
			}
			if errors.Is(err, ntp.ErrDenied) {
				log.Warn("server refused service: no longer polled", zap.Error(err))
			} else if err != nil {
				log.Error("poller stopped", zap.Error(err))
			}
			return
		}
	}
}

// emit hands an event to the daemon loop.
func (d *Daemon) emit(ctx context.Context, ev ntp.Event) bool {
	select {
	case d.events <- sourceEvent{Event: ev}:
		return true
	case <-ctx.Done():
		return false
	}
}

// refIDOf is the reference ID a downstream server announces for upstream
// address addr (RFC 5905 §7.3): the IPv4 address, or the first four octets
// of the MD5 of an IPv6 address; 0 for a name that is not an address.
func refIDOf(addr string) uint32 {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return 0
	}
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		return binary.BigEndian.Uint32(b[:])
	}
	b := ip.As16()
	sum := md5.Sum(b[:])
	return binary.BigEndian.Uint32(sum[:4])
}
