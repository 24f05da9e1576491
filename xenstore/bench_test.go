package xenstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

func benchServer(b *testing.B) (string, *xsd.Server) {
	srv, err := xsd.New(xsd.Config{Quota: xsd.Quota{OutputQueue: 1 << 14}})
	if err != nil {
		b.Fatal(err)
	}
	sock := filepath.Join(b.TempDir(), "s")
	if err := srv.Listen(sock); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return sock, srv
}

// BenchmarkReadRoundTrip: one READ of a small node, client to embedded
// server over a Unix socket and back. Reports p50/p99 besides the mean.
func BenchmarkReadRoundTrip(b *testing.B) {
	sock, _ := benchServer(b)
	ctx := context.Background()
	c, err := xenstore.DialSocket(ctx, sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Write(ctx, "/xenradclock/clock", []byte("v=1 gen=1 period=1e-9 k=0")); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := c.Read(ctx, "/xenradclock/clock"); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkReadParallel: many goroutines multiplexed over one connection.
func BenchmarkReadParallel(b *testing.B) {
	sock, _ := benchServer(b)
	ctx := context.Background()
	c, err := xenstore.DialSocket(ctx, sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Write(ctx, "/k", []byte("v")); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Read(ctx, "/k"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkWatchFanout: one WRITE, N connections each with a watch on the
// node; an op ends when all N have received the event.
func BenchmarkWatchFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			sock, _ := benchServer(b)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			writer, err := xenstore.DialSocket(ctx, sock)
			if err != nil {
				b.Fatal(err)
			}
			defer writer.Close()
			if err := writer.Write(ctx, "/xenradclock/clock", []byte("0")); err != nil {
				b.Fatal(err)
			}
			var got sync.WaitGroup
			var ready sync.WaitGroup
			for i := 0; i < n; i++ {
				c, err := xenstore.DialSocket(ctx, sock)
				if errors.Is(err, syscall.EMFILE) {
					b.Skipf("N=%d needs %d file descriptors: %v (raise ulimit -n)", n, 2*n, err)
				}
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				w, err := c.Watch(ctx, "/xenradclock/clock", "bench")
				if err != nil {
					b.Fatal(err)
				}
				ready.Add(1)
				go func() {
					first := true
					for range w.Events() {
						if first {
							first = false
							ready.Done() // the registration event
							continue
						}
						got.Done()
					}
				}()
			}
			ready.Wait()
			val := []byte("x")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				got.Add(n)
				val[0] = byte('a' + i%26)
				if err := writer.Write(ctx, "/xenradclock/clock", val); err != nil {
					b.Fatal(err)
				}
				got.Wait()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
		})
	}
}
