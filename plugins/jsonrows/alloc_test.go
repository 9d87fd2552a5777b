package jsonrows

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestRecyclingAllocatorReusesZeroedAlignedBuffers(t *testing.T) {
	a := NewRecyclingAllocator(1 << 20)
	b := a.Allocate(1000)
	require.Len(t, b, 1000)
	require.Equal(t, 1000, cap(b), "capacity is the requested size, as with memory.GoAllocator")
	require.Zero(t, uintptr(unsafe.Pointer(&b[0]))%64, "64-byte alignment")
	for i := range b {
		b[i] = 0xff
	}
	first := &b[0]
	a.Free(b)
	require.EqualValues(t, 1024, a.IdleBytes())

	c := a.Allocate(900) // same size class
	require.Same(t, first, &c[0], "a freed buffer of the class is reused")
	require.Equal(t, make([]byte, 900), c, "a reused buffer is zeroed")
	require.Zero(t, a.IdleBytes())

	// Reallocate keeps the contents and recycles the old buffer.
	copy(c, "hello")
	d := a.Reallocate(5000, c)
	require.Equal(t, []byte("hello"), d[:5])
	require.Equal(t, make([]byte, 5000-5), d[5:])
	require.EqualValues(t, 1024, a.IdleBytes())

	// Double frees and foreign slices are ignored.
	a.Free(c)
	a.Free(make([]byte, 4096))
	require.EqualValues(t, 1024, a.IdleBytes())
	a.Free(d)
	require.EqualValues(t, 1024+8192, a.IdleBytes())
}

func TestRecyclingAllocatorBoundsIdleBytes(t *testing.T) {
	a := NewRecyclingAllocator(64 << 10)
	var bufs [][]byte
	for i := 0; i < 10; i++ {
		bufs = append(bufs, a.Allocate(16<<10))
	}
	for _, b := range bufs {
		a.Free(b)
	}
	require.EqualValues(t, 64<<10, a.IdleBytes(), "only maxIdle bytes are kept")
	// Sizes beyond the largest class are plain allocations.
	big := a.Allocate(1<<recycleMaxShift + 1)
	a.Free(big)
	require.EqualValues(t, 64<<10, a.IdleBytes())
}
