package lancerows

import (
	"fmt"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// kept is the number of buffers r holds for reuse.
func kept(r *Recycler) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.free)
}

func TestRecyclerReusesLargeBuffersZeroed(t *testing.T) {
	r := NewRecycler(2)
	small := r.Allocate(100)
	r.Free(small)
	assert.Equal(t, 0, kept(r), "small buffers are left to the Go allocator")

	a := r.Allocate(recycleMin)
	a[0], a[len(a)-1] = 7, 7
	r.Free(a)
	require.Equal(t, 1, kept(r))
	b := r.Allocate(recycleMin)
	assert.Same(t, &a[0], &b[0], "the kept buffer comes back")
	assert.Equal(t, byte(0), b[0], "zeroed")
	assert.Equal(t, byte(0), b[len(b)-1], "zeroed")
	assert.Equal(t, 0, kept(r))

	big := r.Allocate(4 * recycleMin)
	r.Free(b)
	r.Free(big)
	r.Free(make([]byte, 2*recycleMin)) // full: replaces the smallest kept
	require.Equal(t, 2, kept(r))
	got := r.Allocate(recycleMin + 1)
	assert.Equal(t, 2*recycleMin, len(got), "smallest kept buffer that fits")
	got = r.Reallocate(3*recycleMin, got)
	assert.GreaterOrEqual(t, len(got), 3*recycleMin)
}

// Reallocate keeps the old bytes and zeroes the rest, also in a reused
// buffer that held other bytes.
func TestRecyclerReallocateZeroesTheRest(t *testing.T) {
	r := NewRecycler(1)
	defer r.Close()
	dirty := r.Allocate(2 * recycleMin)
	for i := range dirty {
		dirty[i] = 0xff
	}
	r.Free(dirty)
	old := r.Allocate(1000)
	for i := range old {
		old[i] = byte(i%251 + 1)
	}
	want := append([]byte(nil), old...)
	got := r.Reallocate(recycleMin+1, old)
	require.Same(t, &dirty[0], &got[0], "the kept buffer is reused")
	assert.Equal(t, want, got[:len(want)], "old bytes kept")
	assert.Equal(t, make([]byte, len(got)-len(want)), got[len(want):], "the rest zeroed")
	r.Free(got)
}

// A record owns its vector buffer until released: later records of the
// same builder get other memory, and a released buffer is reused.
func TestBuilderRecordOwnsVectorBuffer(t *testing.T) {
	l := testLayout(t, vectorOnly(3, EncodingJSON))
	r := NewRecycler(4)
	b := NewBuilder(l, jsonrows.FormatNDJSON, r)
	defer b.Release()

	rows := func(first, n int) string {
		var out []byte
		for i := first; i < first+n; i++ {
			out = fmt.Appendf(out, `{"id":"id-%012d","embedding":[%d,%d,%d]}`+"\n", i, i, -i, 2*i)
		}
		return string(out)
	}
	const n = 30000 // vector buffer above recycleMin
	_, err := b.Append([]byte(rows(0, n)))
	require.NoError(t, err)
	rec1 := b.NewRecord()
	_, err = b.Append([]byte(rows(n, n)))
	require.NoError(t, err)
	_, err = b.Append([]byte(rows(0, 1) + `{"id":"bad","embedding":[1]}` + "\n"))
	require.Error(t, err)
	rec2 := b.NewRecord()
	vals := func(rec arrow.Record) []float32 {
		return rec.Column(1).(*array.FixedSizeList).ListValues().(*array.Float32).Float32Values()
	}
	v1, v2 := vals(rec1), vals(rec2)
	require.Len(t, v1, 3*n)
	require.Len(t, v2, 3*n)
	ids1, ids2 := rec1.Column(0).(*array.String), rec2.Column(0).(*array.String)
	for i := 0; i < n; i++ {
		require.Equal(t, []float32{float32(i), float32(-i), float32(2 * i)}, v1[3*i:3*i+3], "row %d of record 1", i)
		require.Equal(t, []float32{float32(n + i), float32(-(n + i)), float32(2 * (n + i))}, v2[3*i:3*i+3], "row %d of record 2", i)
		// The id columns (450 KB) outgrew recycleMin too: their buffers moved while growing.
		require.Equal(t, fmt.Sprintf("id-%012d", i), ids1.Value(i))
		require.Equal(t, fmt.Sprintf("id-%012d", n+i), ids2.Value(i))
	}
	r.mu.Lock()
	r.free = nil // forget the buffers outgrown while appending
	r.mu.Unlock()
	rec1.Release()
	before := kept(r)
	assert.GreaterOrEqual(t, before, 1, "the released record's buffers are kept")
	b.Reserve(n)
	assert.Equal(t, before-1, kept(r), "and the vector buffer reused")
	rec2.Release()
}

// Builders running at once on one Recycler never share a buffer: every
// worker and iteration writes values of its own (element i of a record is
// w*1000+iter+i), and every element is checked.
func TestRecyclerConcurrentBuilders(t *testing.T) {
	const dim, rows = 64, 1200 // a vector buffer above recycleMin
	l := testLayout(t, vectorOnly(dim, EncodingBase64F32))
	r := NewRecycler(4)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vec := make([]float32, dim)
			for iter := range 20 {
				base := w*1000 + iter
				var payload []byte
				for row := 0; row < rows; row++ {
					for j := range vec {
						vec[j] = float32(base + row*dim + j)
					}
					payload = fmt.Appendf(payload, `{"id":"%d","embedding":"%s"}`+"\n", row, b64(vec...))
				}
				b := NewBuilder(l, jsonrows.FormatNDJSON, r)
				if _, err := b.Append(payload); err != nil {
					t.Error(err)
					return
				}
				rec := b.NewRecord()
				got := rec.Column(1).(*array.FixedSizeList).ListValues().(*array.Float32).Float32Values()
				if len(got) != rows*dim {
					t.Errorf("worker %d, iteration %d: %d elements, want %d", w, iter, len(got), rows*dim)
				}
				for i, f := range got {
					if want := float32(base + i); f != want {
						t.Errorf("worker %d, iteration %d: element %d is %g, want %g: vector overwritten", w, iter, i, f, want)
						break
					}
				}
				rec.Release()
				b.Release()
			}
		}()
	}
	wg.Wait()
}

func TestRecyclerClose(t *testing.T) {
	r := NewRecycler(2)
	a, b := r.Allocate(recycleMin), r.Allocate(recycleMin)
	r.Free(a)
	require.Equal(t, 1, kept(r))
	r.Close()
	assert.Equal(t, 0, kept(r))
	r.Free(b) // in use at Close: unmapped when freed, not kept
	assert.Equal(t, 0, kept(r))
}
