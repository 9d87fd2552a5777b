package lancerows

import (
	"sync"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// recycleMin is the smallest buffer a Recycler keeps: below it the Go
// allocator is cheap enough.
const recycleMin = 256 << 10

// Recycler is a memory.Allocator that keeps up to a fixed number of freed
// large buffers and hands them out again. A record's vector buffer is
// megabytes; fresh memory of that size costs page faults and zeroing on
// every batch, and leaves the garbage collector more to reclaim. It may
// return more bytes than asked for (the smallest kept buffer that fits),
// always zeroed. Safe for concurrent use.
type Recycler struct {
	next memory.Allocator
	keep int

	mu   sync.Mutex
	free [][]byte
}

// NewRecycler returns a Recycler keeping up to keep buffers, allocating
// from the Go allocator.
func NewRecycler(keep int) *Recycler {
	return &Recycler{next: memory.NewGoAllocator(), keep: keep}
}

// Allocate returns a zeroed buffer of at least size bytes.
func (r *Recycler) Allocate(size int) []byte {
	b := r.allocateUninit(size)
	clear(b)
	return b
}

// allocateUninit is Allocate without the zeroing, for a caller that writes
// every byte it reads.
func (r *Recycler) allocateUninit(size int) []byte {
	if size >= recycleMin {
		if b := r.take(size); b != nil {
			return b
		}
	}
	return r.next.Allocate(size)
}

func (r *Recycler) take(size int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	best := -1
	for i, b := range r.free {
		if len(b) >= size && (best < 0 || len(b) < len(r.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b := r.free[best]
	r.free[best] = r.free[len(r.free)-1]
	r.free = r.free[:len(r.free)-1]
	return b
}

// Reallocate returns a buffer of at least size bytes holding b's bytes.
func (r *Recycler) Reallocate(size int, b []byte) []byte {
	if size <= len(b) {
		return b
	}
	nb := r.Allocate(size)
	copy(nb, b)
	r.Free(b)
	return nb
}

// Free keeps b for reuse if it is large and there is room, replacing the
// smallest kept buffer when b is larger.
func (r *Recycler) Free(b []byte) {
	if len(b) < recycleMin {
		r.next.Free(b)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.free) < r.keep {
		r.free = append(r.free, b)
		return
	}
	small := -1
	for i, f := range r.free {
		if len(f) < len(b) && (small < 0 || len(f) < len(r.free[small])) {
			small = i
		}
	}
	if small >= 0 {
		r.free[small] = b
	}
}

// Kept is the number of buffers held for reuse.
func (r *Recycler) Kept() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.free)
}

var _ memory.Allocator = (*Recycler)(nil)
