package ntp_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/ntp"
)

// BenchmarkExchange runs exchanges with the project's server on loopback
// and reports, per counter: the kernel-stamped RTT and the user-stamped RTT
// (median, µs), the one-way client-to-server delay seen through the server's
// kernel receive stamp (median, µs), the triple widths (median and max, ns)
// and the share of stamps that used kernel timestamps.
func BenchmarkExchange(b *testing.B) {
	for _, name := range []string{"monotonic-raw", "tsc"} {
		b.Run(name, func(b *testing.B) {
			ctr, err := counter.Open(name)
			if err != nil {
				b.Skipf("counter %s: %v", name, err)
			}
			clk, err := ntp.NewSkewedClock(ctr, 0, 0)
			if err != nil {
				b.Fatal(err)
			}
			srv, err := ntp.NewServer(ntp.ServerConfig{Addr: "127.0.0.1:0", Time: clk.Reading})
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(context.Background())
			defer srv.Close()
			c, err := ntp.Dial(srv.Addr(), ntp.ClientConfig{Counter: ctr})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			toNs := func(ticks uint64) float64 { return float64(ticks) / ctr.NominalHz() * 1e9 }
			var rttK, rttU, widths, fwd []float64
			kernel := 0
			b.ResetTimer()
			for b.Loop() {
				s, _, err := c.Exchange(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				rttK = append(rttK, toNs(s.Stamp.Tf-s.Stamp.Ta)/1e3)
				rttU = append(rttU, toNs(s.TfUser-s.TaUser)/1e3)
				fwd = append(fwd, s.Stamp.Tb.Sub(clk.At(s.Stamp.Ta)).Float()*1e6)
				if s.TaMethod == ntp.MethodKernel && s.TfMethod == ntp.MethodKernel {
					kernel++
				}
				for _, w := range []time.Duration{s.TxTripleWidth, s.RxTripleWidth} {
					if w > 0 {
						widths = append(widths, float64(w))
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(median(rttK), "rtt-stamped-µs")
			b.ReportMetric(median(rttU), "rtt-user-µs")
			b.ReportMetric(median(widths), "triple-median-ns")
			// Client send to server receive, both kernel-stamped when
			// possible: the one-way delay of loopback.
			b.ReportMetric(median(fwd), "oneway-µs")
			if len(widths) > 0 {
				b.ReportMetric(slices.Max(widths), "triple-max-ns")
			}
			b.ReportMetric(float64(kernel)/float64(len(rttK)), "kernel-share")
		})
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
