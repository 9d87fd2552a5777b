package lancerows

import (
	"sync"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// recycleMin is the smallest buffer a Recycler keeps: below it the Go
// allocator is cheap enough.
const recycleMin = 256 << 10

// Recycler is a memory.Allocator for the large buffers of records: buffers
// of recycleMin bytes and more are mapped outside the Go heap and, once
// freed, kept (up to a fixed number) and handed out again. A record's
// vector buffer is megabytes: fresh memory of that size costs page faults
// on every batch, and on the Go heap it would also count twice in the
// garbage collector's target (GOGC), once live and once as garbage not yet
// collected. Smaller buffers come from the Go allocator. It may return more
// bytes than asked for (the smallest kept buffer that fits); Allocate
// zeroes them. A buffer must not be used after it is freed. Safe for
// concurrent use.
type Recycler struct {
	small memory.Allocator
	keep  int

	mu   sync.Mutex
	free [][]byte
}

// NewRecycler returns a Recycler keeping up to keep freed large buffers.
func NewRecycler(keep int) *Recycler {
	return &Recycler{small: memory.NewGoAllocator(), keep: keep}
}

// Allocate returns a zeroed buffer of at least size bytes.
func (r *Recycler) Allocate(size int) []byte {
	b := r.AllocateUninit(size)
	clear(b)
	return b
}

// AllocateUninit is Allocate without the zeroing, for a caller that writes
// every byte it reads.
func (r *Recycler) AllocateUninit(size int) []byte {
	if size < recycleMin {
		return r.small.Allocate(size)
	}
	if b := r.take(size); b != nil {
		return b
	}
	return mapBuffer(size)
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

// Reallocate returns a buffer of at least size bytes holding b's bytes,
// the rest zeroed.
func (r *Recycler) Reallocate(size int, b []byte) []byte {
	if size <= len(b) {
		return b
	}
	nb := r.AllocateUninit(size)
	clear(nb[copy(nb, b):])
	r.Free(b)
	return nb
}

// Free keeps a large b for reuse if there is room, replacing the smallest
// kept buffer when b is larger, and unmaps what it does not keep.
func (r *Recycler) Free(b []byte) {
	if cap(b) < recycleMin { // from the Go allocator
		r.small.Free(b)
		return
	}
	b = b[:cap(b)]
	r.mu.Lock()
	if len(r.free) < r.keep {
		r.free = append(r.free, b)
		r.mu.Unlock()
		return
	}
	small := -1
	for i, f := range r.free {
		if len(f) < len(b) && (small < 0 || len(f) < len(r.free[small])) {
			small = i
		}
	}
	if small >= 0 {
		b, r.free[small] = r.free[small], b
	}
	r.mu.Unlock()
	unmapBuffer(b)
}

// Close unmaps the kept buffers; buffers freed later are unmapped at once.
func (r *Recycler) Close() {
	r.mu.Lock()
	free := r.free
	r.free, r.keep = nil, 0
	r.mu.Unlock()
	for _, b := range free {
		unmapBuffer(b)
	}
}

var _ memory.Allocator = (*Recycler)(nil)
