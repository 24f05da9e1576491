// SPDX-License-Identifier: GPL-2.0

// Command goudp checks that a static Go binary runs in the patched DomU: it
// starts the Go runtime (threads, futexes, epoll, timers, signals), opens a
// UDP socket on loopback, sends itself a datagram and reads it back with a
// deadline. It prints one "GOUDP ok" line, or "GOUDP FAIL" and exits 1.
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Printf("GOUDP FAIL %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return fmt.Errorf("listen udp: %w", err)
	}
	defer conn.Close()

	// Wait on a goroutine and a timer so the scheduler and netpoller run.
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			done <- fmt.Errorf("set deadline: %w", err)
			return
		}
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			done <- fmt.Errorf("read: %w", err)
			return
		}
		if string(buf[:n]) != "xenradclock" {
			done <- fmt.Errorf("read %q, want %q", buf[:n], "xenradclock")
			return
		}
		done <- nil
	}()
	start := time.Now()
	if _, err := conn.WriteToUDP([]byte("xenradclock"), conn.LocalAddr().(*net.UDPAddr)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := <-done; err != nil {
		return err
	}
	fmt.Printf("GOUDP ok addr=%s rtt=%s go=%s gomaxprocs=%d\n",
		conn.LocalAddr(), time.Since(start), runtime.Version(), runtime.GOMAXPROCS(0))
	return nil
}
