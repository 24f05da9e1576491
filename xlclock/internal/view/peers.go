package view

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/ntp"
)

// Peer is this host's clock compared with another host's over NTP: the
// step a guest would see when migrating from this host to that one.
type Peer struct {
	Peer    string `json:"peer"`              // as given
	Address string `json:"address,omitempty"` // the address asked
	// StepNs is the peer's clock minus this host's clock (positive: a guest
	// migrating there jumps forward), from the exchange with the smallest
	// round trip.
	StepNs int64 `json:"step_ns"`
	// UncertaintyNs bounds the measurement's own error: half that round
	// trip (the path asymmetry can be no larger).
	UncertaintyNs int64  `json:"uncertainty_ns"`
	RTTNs         int64  `json:"rtt_ns"`
	Exchanges     int    `json:"exchanges"` // answered, of those tried
	Tried         int    `json:"tried"`
	Error         string `json:"error,omitempty"`
}

// PeerConfig says how to measure peers.
type PeerConfig struct {
	Record    *clockdata.Record // this host's clock
	Counter   counter.Counter   // the counter it is defined on
	Exchanges int               // per peer (default 8)
	Timeout   time.Duration     // per exchange (default 1 s)
	// Resolve turns a host name into addresses (default net.DefaultResolver).
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
}

// MeasurePeers measures every peer in turn.
func MeasurePeers(ctx context.Context, cfg PeerConfig, peers []string) []Peer {
	out := make([]Peer, len(peers))
	for i, p := range peers {
		out[i] = measurePeer(ctx, cfg, p)
	}
	return out
}

func measurePeer(ctx context.Context, cfg PeerConfig, peer string) Peer {
	res := Peer{Peer: Clean(peer, 64)}
	addr, err := resolvePeer(ctx, cfg, peer)
	if err != nil {
		res.Error = Clean(err.Error(), 200)
		return res
	}
	res.Address = addr.String()
	if cfg.Exchanges <= 0 {
		cfg.Exchanges = 8
	}
	c, err := ntp.Dial(addr, ntp.ClientConfig{Counter: cfg.Counter, Timeout: cfg.Timeout, Name: peer})
	if err != nil {
		res.Error = Clean(err.Error(), 200)
		return res
	}
	defer c.Close()
	best := int64(-1)
	for range cfg.Exchanges {
		res.Tried++
		s, _, err := c.Exchange(ctx)
		if err == nil && s.Identity != cfg.Record.CounterIdentity {
			err = errors.New("the counter's timeline is not the record's (a disruption): measure again")
		}
		if err != nil {
			res.Error = Clean(err.Error(), 200)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		res.Exchanges++
		step, rtt := stepOf(cfg.Record, s)
		if best < 0 || rtt < best {
			best, res.StepNs, res.RTTNs, res.UncertaintyNs = rtt, step, rtt, (rtt+1)/2
		}
	}
	if res.Exchanges > 0 {
		res.Error = ""
	}
	return res
}

// stepOf is the NTP offset of the peer against the record's clock,
// θ = ((Tb − Ca(Ta)) + (Te − Ca(Tf)))/2, and the round trip
// δ = Cd(Ta, Tf) − (Te − Tb), both in ns.
func stepOf(r *clockdata.Record, s ntp.Sample) (stepNs, rttNs int64) {
	ta, tf := s.Stamp.Ta, s.Stamp.Tf
	a := s.Stamp.Tb.Sub(r.Absolute(ta)).Nanos()
	b := s.Stamp.Te.Sub(r.Absolute(tf)).Nanos()
	rtt := r.Difference(ta, tf).Nanos() - s.Stamp.Te.Sub(s.Stamp.Tb).Nanos()
	return (a + b) / 2, max(rtt, 0)
}

func resolvePeer(ctx context.Context, cfg PeerConfig, peer string) (netip.AddrPort, error) {
	host, port, err := ntp.SplitServer(peer)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("peer %q: %w", peer, err)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a, port), nil
	}
	resolve := cfg.Resolve
	if resolve == nil {
		resolve = func(ctx context.Context, h string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		}
	}
	addrs, err := resolve(ctx, host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("peer %q: %w", peer, err)
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("peer %q: no address", peer)
	}
	return netip.AddrPortFrom(addrs[0], port), nil
}

func writePeers(w io.Writer, peers []Peer) error {
	if len(peers) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nPEER\tADDRESS\tSTEP\t±\tRTT\tEXCHANGES\tERROR\n")
	for _, p := range peers {
		step, unc, rtt := none, none, none
		if p.Exchanges > 0 {
			step, unc, rtt = FmtStepMicros(p.StepNs), FmtNs(p.UncertaintyNs), FmtNs(p.RTTNs)
		}
		e := p.Error
		if e == "" {
			e = none
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(p.Peer), cell(p.Address), step, unc, rtt,
			strconv.Itoa(p.Exchanges)+"/"+strconv.Itoa(p.Tried), e)
	}
	fmt.Fprintf(tw, "(STEP: the peer's clock minus this host's, what a guest migrating there would see)\n")
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the peers: %w", err)
	}
	return nil
}

// FmtStepMicros prints a signed step to the microsecond, whatever its
// size: "+249.998ms", "-1.500021s", "+12.345µs".
func FmtStepMicros(ns int64) string {
	a := ns
	if a < 0 {
		a = -a
	}
	switch {
	case a >= 1e9:
		return fmt.Sprintf("%+.6fs", float64(ns)/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%+.3fms", float64(ns)/1e6)
	default:
		return fmt.Sprintf("%+.3fµs", float64(ns)/1e3)
	}
}
