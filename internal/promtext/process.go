package promtext

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// AddRuntime adds, at every scrape, the Go and process figures that
// client_golang's Go and process collectors gave most use of, under their
// names: go_goroutines, go_threads, go_memstats_heap_alloc_bytes,
// go_memstats_sys_bytes, process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_start_time_seconds, process_open_fds (Linux /proc; what cannot
// be read is left out).
func (r *Registry) AddRuntime() {
	r.mu.Lock()
	r.extra = append(r.extra, writeRuntime)
	r.mu.Unlock()
}

func writeRuntime(bw *bufio.Writer) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	sample(bw, "go_goroutines", "Number of goroutines that currently exist.", "gauge", float64(runtime.NumGoroutine()))
	sample(bw, "go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", "gauge", float64(ms.HeapAlloc))
	sample(bw, "go_memstats_sys_bytes", "Number of bytes obtained from system.", "gauge", float64(ms.Sys))
	if n, err := os.ReadDir("/proc/self/task"); err == nil {
		sample(bw, "go_threads", "Number of OS threads created.", "gauge", float64(len(n)))
	}
	if n, err := os.ReadDir("/proc/self/fd"); err == nil {
		sample(bw, "process_open_fds", "Number of open file descriptors.", "gauge", float64(len(n)))
	}
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 > len(b) {
		return
	}
	f := strings.Fields(string(b[i+2:])) // f[0] is field 3 (state)
	if len(f) < 22 {
		return
	}
	const ticks = 100 // USER_HZ on Linux
	num := func(k int) float64 { v, _ := strconv.ParseFloat(f[k], 64); return v }
	sample(bw, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter", (num(11)+num(12))/ticks)
	sample(bw, "process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge", num(20))
	sample(bw, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", num(21)*float64(os.Getpagesize()))
	if boot := bootTime(); boot > 0 {
		sample(bw, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge", boot+num(19)/ticks)
	}
}

// bootTime is /proc/stat's btime, s since the epoch (0 when unknown).
func bootTime() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
