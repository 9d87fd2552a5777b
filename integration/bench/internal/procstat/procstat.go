// Package procstat reads the process figures the benchmarks print (peak RSS,
// CPU time) from /proc, and hands out free loopback ports.
package procstat

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Status reads a size field of a process's /proc status (VmHWM, RssFile,
// VmRSS...) in bytes; 0 when unreadable.
func Status(pid int, field string) int64 {
	var v [1]int64
	StatusFields(pid, []string{field}, v[:])
	return v[0]
}

// StatusFields reads several size fields of a process's /proc status in
// one read of the file: vals[i] is fields[i] in bytes, 0 when unreadable.
func StatusFields(pid int, fields []string, vals []int64) {
	clear(vals)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for i, f := range fields {
			if name == f {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				vals[i] = kb << 10
			}
		}
	}
}

// CPU is a process's user+system CPU time from /proc (10 ms ticks: fine
// over runs of seconds).
func CPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the line.
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// Peaks are the largest values of a process's memory seen while it ran, in
// bytes: RSS (VmHWM) and, sampled, its anonymous and file-backed parts.
// File-backed pages are mostly the binary's own code, shared and
// reclaimable; anonymous ones are what the process allocated.
type Peaks struct{ RSS, Anon, File int64 }

// WatchPeaks follows the memory of the running process pid, read from
// /proc every few milliseconds; stop, called once the process has exited,
// returns the peaks seen. The Maxrss that wait4 reports is no substitute
// for a child of a Go program: such a child inherits its parent's peak when
// it execs, so the bench process's own memory would show as the child's.
func WatchPeaks(pid int) (stop func() Peaks) {
	quit, result := make(chan struct{}), make(chan Peaks, 1)
	go func() {
		var p Peaks
		fields, v := []string{"VmHWM", "RssAnon", "RssFile"}, make([]int64, 3)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			StatusFields(pid, fields, v)
			p.RSS, p.Anon, p.File = max(p.RSS, v[0]), max(p.Anon, v[1]), max(p.File, v[2])
			select {
			case <-quit:
				result <- p
				return
			case <-tick.C:
			}
		}
	}()
	return func() Peaks {
		close(quit)
		return <-result
	}
}

// WatchPeak is WatchPeaks for the peak RSS alone, in bytes.
func WatchPeak(pid int) (stop func() int64) {
	stopPeaks := WatchPeaks(pid)
	return func() int64 { return stopPeaks().RSS }
}

// RunPeaks is cmd.Run that also returns the child's own memory peaks.
func RunPeaks(cmd *exec.Cmd) (Peaks, error) {
	if err := cmd.Start(); err != nil {
		return Peaks{}, err
	}
	stop := WatchPeaks(cmd.Process.Pid)
	err := cmd.Wait()
	return stop(), err
}

// RunPeak is RunPeaks for the peak RSS alone, in bytes.
func RunPeak(cmd *exec.Cmd) (int64, error) {
	p, err := RunPeaks(cmd)
	return p.RSS, err
}
