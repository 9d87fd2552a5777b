package jsonrows

import (
	"math/bits"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Size classes of RecyclingAllocator: powers of two from 64 B to 64 MiB.
// Larger requests are plain Go allocations.
const (
	recycleMinShift = 6
	recycleMaxShift = 26
	recycleClasses  = recycleMaxShift - recycleMinShift + 1
	recycleAlign    = 64
)

// RecyclingAllocator is an Arrow allocator that keeps freed buffers, up to
// a bounded number of idle bytes, and hands them out again (zeroed, like
// memory.GoAllocator). Arrow builders, record concatenation and Parquet
// encoding allocate and free a few large buffers per record batch; with
// the Go allocator (whose Free does nothing) each of them is garbage, and
// at tens of MB/s that garbage sets the pace of the garbage collector.
//
// Buffers are only recycled through Free (Release of the Arrow objects that
// own them), so every record built with it must be released exactly once
// and not used afterwards, as with any Arrow allocator that frees memory.
// Slices it did not hand out are ignored by Free. It is safe for concurrent
// use.
type RecyclingAllocator struct {
	maxIdle int64

	mu   sync.Mutex
	idle int64
	free [recycleClasses][][]byte
	// live maps the first byte of every handed-out buffer to its whole
	// size-class slice, so Free can recycle it (callers see a slice whose
	// capacity is the size they asked for, as with memory.GoAllocator).
	live map[*byte][]byte
}

// NewRecyclingAllocator returns an allocator that keeps at most maxIdle
// bytes of freed buffers for reuse.
func NewRecyclingAllocator(maxIdle int64) *RecyclingAllocator {
	return &RecyclingAllocator{maxIdle: maxIdle, live: map[*byte][]byte{}}
}

// recycleClass returns the size class of size, or -1 when it is not pooled.
func recycleClass(size int) int {
	if size <= 0 || size > 1<<recycleMaxShift {
		return -1
	}
	shift := bits.Len(uint(size - 1))
	if shift < recycleMinShift {
		shift = recycleMinShift
	}
	return shift - recycleMinShift
}

// Allocate returns a zeroed, 64-byte aligned slice of length and capacity
// size.
func (a *RecyclingAllocator) Allocate(size int) []byte {
	c := recycleClass(size)
	if c < 0 {
		return memory.DefaultAllocator.Allocate(size)
	}
	a.mu.Lock()
	var full []byte
	if n := len(a.free[c]); n > 0 {
		full = a.free[c][n-1]
		a.free[c][n-1] = nil
		a.free[c] = a.free[c][:n-1]
		a.idle -= int64(len(full))
	}
	a.mu.Unlock()
	if full == nil {
		n := 1 << (c + recycleMinShift)
		buf := make([]byte, n+recycleAlign)
		shift := int(-uintptr(unsafe.Pointer(unsafe.SliceData(buf))) & (recycleAlign - 1))
		full = buf[shift : shift+n : shift+n]
	} else {
		clear(full)
	}
	a.mu.Lock()
	a.live[unsafe.SliceData(full)] = full
	a.mu.Unlock()
	return full[:size:size]
}

// Reallocate grows b to size, keeping its contents; the old buffer is
// recycled.
func (a *RecyclingAllocator) Reallocate(size int, b []byte) []byte {
	if cap(b) >= size {
		return b[:size]
	}
	nb := a.Allocate(size)
	copy(nb, b)
	a.Free(b)
	return nb
}

// Free recycles b if it was handed out by this allocator and the idle
// bytes stay within the bound; otherwise it leaves b to the garbage
// collector.
func (a *RecyclingAllocator) Free(b []byte) {
	if cap(b) == 0 {
		return
	}
	p := unsafe.SliceData(b)
	a.mu.Lock()
	defer a.mu.Unlock()
	full, ok := a.live[p]
	if !ok {
		return
	}
	delete(a.live, p)
	if a.idle+int64(len(full)) > a.maxIdle {
		return
	}
	c := recycleClass(len(full))
	a.free[c] = append(a.free[c], full)
	a.idle += int64(len(full))
}

// LiveBuffers is the number of buffers handed out and not freed yet.
func (a *RecyclingAllocator) LiveBuffers() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.live)
}

// IdleBytes is the size of the freed buffers kept for reuse.
func (a *RecyclingAllocator) IdleBytes() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.idle
}

var _ memory.Allocator = (*RecyclingAllocator)(nil)
