// Package guesttest simulates what a guest agent sees of its host, for the
// agent's tests and demos: a simulated counter (counter.CreateSimHost), an
// embedded Xenstore with Dom0's socket and guests' domain sockets, and a
// publisher standing in for dom0d that writes records with a chosen offset
// from the truth and a chosen bound. The truth is EpochNs + CLOCK_MONOTONIC_RAW,
// the timeline every simulated counter is an affine function of.
package guesttest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

// EpochNs is the truth at CLOCK_MONOTONIC_RAW 0 (2023-11-14).
const EpochNs = 1_700_000_000_000_000_000

// ClockNode is where the host publishes.
const ClockNode = "/xenradclock/clock"

// GuestReadable is the clock node's permission (owner Dom0, guests read).
var GuestReadable = xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}}

// HostConfig describes one simulated host.
type HostConfig struct {
	Name         string
	Sim          counter.SimHostConfig
	OffsetErrNs  int64  // the published clock minus the truth
	MaxErrorNs   uint64 // the published bound (must exceed |OffsetErrNs|)
	GrowthPsPerS uint32
	Interval     time.Duration // publisher period (0: publish by hand)
	// NextAfter and VoidAfter are the records' next-expected and validity
	// horizons after their reference (0: two and ten polls).
	NextAfter, VoidAfter time.Duration
}

// Host is one simulated host.
type Host struct {
	Cfg         HostConfig
	Dir         string
	CounterPath string
	Dom0Socket  string
	Server      *xsd.Server
	Dom0        *xenstore.Client
	ID          [16]byte

	mu     sync.Mutex
	sim    *counter.Simulated
	prev   *clockdata.Record
	offset int64
	stop   chan struct{}
	done   chan struct{}
	writes int
}

// NewHost starts a host in dir (its counter file, sockets).
func NewHost(dir string, cfg HostConfig, log *zap.Logger) (*Host, error) {
	h := &Host{Cfg: cfg, Dir: dir, CounterPath: filepath.Join(dir, cfg.Name+".counter"),
		Dom0Socket: filepath.Join(dir, cfg.Name+".xs"), offset: cfg.OffsetErrNs}
	if err := counter.CreateSimHost(h.CounterPath, cfg.Sim); err != nil {
		return nil, err
	}
	sim, err := counter.OpenSimulated(h.CounterPath)
	if err != nil {
		return nil, err
	}
	h.sim = sim
	sum := sha256.Sum256([]byte("guesttest host " + cfg.Name))
	copy(h.ID[:], sum[:])
	if log == nil {
		log = zap.NewNop()
	}
	if h.Server, err = xsd.New(xsd.Config{Logger: log.Named(cfg.Name)}); err != nil {
		return nil, err
	}
	if err := h.Server.Listen(h.Dom0Socket); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if h.Dom0, err = xenstore.DialSocket(ctx, h.Dom0Socket); err != nil {
		return nil, err
	}
	if err := h.Dom0.Write(ctx, "/xenradclock/host-name", []byte(cfg.Name)); err != nil {
		return nil, err
	}
	if err := h.Dom0.SetPerms(ctx, "/xenradclock", GuestReadable); err != nil {
		return nil, err
	}
	if err := h.Dom0.SetPerms(ctx, "/xenradclock/host-name", GuestReadable); err != nil {
		return nil, err
	}
	return h, nil
}

// ListenGuest gives domain domid a socket at path (and ~/name).
func (h *Host) ListenGuest(domid uint32, path, name string) error {
	if err := h.Server.ListenDomain(path, domid); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	home := fmt.Sprintf("/local/domain/%d", domid)
	if err := h.Dom0.Write(ctx, home+"/name", []byte(name)); err != nil {
		return err
	}
	return h.Dom0.SetPerms(ctx, home+"/name", xenstore.Perms{{Domid: 0}, {Domid: domid, Access: xenstore.AccessRead}})
}

// SetOffset changes the published clock's error from the truth (a dom0d
// whose estimate moved; a restart onto a different clock).
func (h *Host) SetOffset(ns int64) {
	h.mu.Lock()
	h.offset = ns
	h.mu.Unlock()
}

// Forget drops the publisher's previous record: the next one starts a new
// disruption marker at generation 1 (a dom0d restarted without state).
func (h *Host) Forget() {
	h.mu.Lock()
	h.prev = nil
	h.mu.Unlock()
}

// TruthAt is the true time at count on this host's counter.
func (h *Host) TruthAt(count uint64) (bintime.Time, error) {
	raw, err := h.sim.MonoRawAt(count)
	if err != nil {
		return bintime.Time{}, err
	}
	return bintime.FromNanos(EpochNs + raw), nil
}

// Next builds the next record at the counter's current value.
func (h *Host) Next() (clockdata.Record, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rd, err := h.sim.Read()
	if err != nil {
		return clockdata.Record{}, err
	}
	truth, err := h.TruthAt(rd.Count)
	if err != nil {
		return clockdata.Record{}, err
	}
	per, ok := clockdata.PeriodFromFloat(1 / (h.Cfg.Sim.NominalHz * (1 + h.Cfg.Sim.PPM*1e-6)))
	if !ok {
		return clockdata.Record{}, fmt.Errorf("period of %g Hz", h.Cfg.Sim.NominalHz)
	}
	poll := uint64(max(h.Cfg.Interval, time.Second))
	next, void := uint64(h.Cfg.NextAfter), uint64(h.Cfg.VoidAfter)
	if next == 0 {
		next = 2 * poll
	}
	if void == 0 {
		void = 10 * poll
	}
	raw := clockdata.Raw{HostID: h.ID, CounterKind: counter.KindSimulated, CounterHz: uint64(h.Cfg.Sim.NominalHz),
		CounterIdentity: rd.Identity, State: clockdata.StateSynchronised, RefCount: rd.Count,
		RefTime: truth.Add(bintime.FromNanos(h.offset)), Period: per,
		ErrorBoundNs: h.Cfg.MaxErrorNs / 4, MaxErrorNs: h.Cfg.MaxErrorNs, RateErrorPsPerS: 1000,
		ErrorGrowthPsPerS: h.Cfg.GrowthPsPerS, MaxErrorGrowthPsPerS: h.Cfg.GrowthPsPerS, PollNs: poll,
		NextExpectedCount: rd.Count + uint64(float64(next)*h.Cfg.Sim.NominalHz/1e9),
		VoidAfterCount:    rd.Count + uint64(float64(void)*h.Cfg.Sim.NominalHz/1e9)}
	r, err := clockdata.Builder{StepThresholdNs: 1}.Next(h.prev, raw, rd.Count)
	if err != nil {
		return r, err
	}
	if h.prev != nil && r.DisruptionMarker != h.prev.DisruptionMarker {
		// The test publisher never slews: keep the marker, as a dom0d
		// that restored its state would; Forget() gives a new one.
		r.DisruptionMarker = h.prev.DisruptionMarker
	}
	h.prev = &r
	return r, nil
}

// Publish writes the next record to the clock node (Dom0-owned, r0).
func (h *Host) Publish(ctx context.Context) (clockdata.Record, error) {
	r, err := h.Next()
	if err != nil {
		return r, err
	}
	text, err := r.MarshalText()
	if err != nil {
		return r, err
	}
	return r, h.WriteRaw(ctx, text, GuestReadable)
}

// WriteRaw writes value to the clock node with permissions ps (garbage
// tests).
func (h *Host) WriteRaw(ctx context.Context, value []byte, ps xenstore.Perms) error {
	// A record is one WRITE, one watch event, as dom0d writes it; a new
	// node's or new permissions go with the value in a transaction, whose
	// events fire at the commit, so no reader sees one without the other.
	exists, err := h.Dom0.Exists(ctx, ClockNode)
	if err != nil {
		return err
	}
	same := false
	if exists {
		cur, err := h.Dom0.GetPerms(ctx, ClockNode)
		if err != nil {
			return err
		}
		same = slices.Equal(cur, ps)
	}
	if same {
		err = h.Dom0.Write(ctx, ClockNode, value)
	} else {
		err = h.Dom0.Transaction(ctx, func(tx *xenstore.Tx) error {
			if err := tx.Write(ctx, ClockNode, value); err != nil {
				return err
			}
			return tx.SetPerms(ctx, ClockNode, ps)
		})
	}
	if err != nil {
		return fmt.Errorf("write the clock node: %w", err)
	}
	h.mu.Lock()
	h.writes++
	h.mu.Unlock()
	return nil
}

// Last is the last record built (nil before the first).
func (h *Host) Last() *clockdata.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.prev == nil {
		return nil
	}
	r := *h.prev
	return &r
}

// Start publishes every Cfg.Interval until Stop.
func (h *Host) Start() {
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(h.done)
		t := time.NewTicker(h.Cfg.Interval)
		defer t.Stop()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			h.Publish(ctx) //nolint:errcheck // a stopped server fails the write; the test sees the page
			cancel()
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends the publisher (a stopped dom0d).
func (h *Host) Stop() {
	if h.stop != nil {
		close(h.stop)
		<-h.done
		h.stop = nil
	}
}

// Close stops everything.
func (h *Host) Close() {
	h.Stop()
	h.Dom0.Close()
	h.Server.Close()
	h.sim.Close()
}
