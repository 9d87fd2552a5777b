//go:build unix

package lancerows

import (
	"os"
	"syscall"
)

// mapBuffer maps size bytes (rounded up to pages) of zeroed anonymous
// memory, or falls back to the Go heap if the kernel refuses.
func mapBuffer(size int) []byte {
	page := os.Getpagesize()
	n := (size + page - 1) / page * page
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, size, max(size, recycleMin))
	}
	return b
}

// unmapBuffer returns a buffer of mapBuffer to the kernel.
func unmapBuffer(b []byte) {
	// A fallback heap buffer is not a mapping: Munmap refuses it and the
	// garbage collector takes it.
	_ = syscall.Munmap(b)
}
