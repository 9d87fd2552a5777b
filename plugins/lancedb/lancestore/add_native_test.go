//go:build lancedb

package lancestore

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/lancedb/lancerows"
)

// Adds go through addIPC, not lancedb-go's AddRecords: the handle is found
// in lancedb-go's table, rows land, and native errors come back worded.
// This fails when a lancedb-go upgrade moves the handle.
func TestDirectAddPath(t *testing.T) {
	ctx := context.Background()
	be, err := openBackend(ctx, t.TempDir())
	require.NoError(t, err)
	defer be.Close()
	opts := testOptions()
	h, _, err := be.CreateTable(ctx, "direct", opts.Schema.Arrow())
	require.NoError(t, err)
	defer h.Close()
	nt, ok := h.(nativeTable)
	require.True(t, ok, "%T", h)
	require.NotNil(t, nt.handle, "lancedb-go's table handle not found: the direct add path is off (lancedb-go changed?)")
	require.Same(t, be.(*nativeBackend).ipc, nt.ipc, "the table's adds use its backend's IPC memory")

	s := New(be, opts)
	tb, err := s.Acquire(ctx, "direct")
	require.NoError(t, err)
	// The last IPC buffer (~1.1 MB) is above lancerows' recycleMin, so mapped
	// outside the Go heap. ipcSize counts every buffer of the record, so
	// none of these grows: TestIPCBufferGrows covers growth.
	for _, n := range []int{1, 1000, 70000} {
		rec := record(t, tb, n)
		require.NoError(t, s.Add(ctx, tb, rec))
		rec.Release()
	}
	s.Release(tb)
	fresh, _, err := be.OpenTable(ctx, "direct") // h still sees the version it opened
	require.NoError(t, err)
	defer fresh.Close()
	count, err := fresh.Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(71001), count)

	// A record the table cannot take: the native library's own error.
	bad := arrow.NewSchema([]arrow.Field{{Name: "other", Type: arrow.PrimitiveTypes.Int64}}, nil)
	bb := array.NewRecordBuilder(memory.NewGoAllocator(), bad)
	bb.Field(0).(*array.Int64Builder).Append(1)
	rec := bb.NewRecord()
	defer rec.Release()
	err = h.Add(ctx, rec)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "failed to add records: ")
}

// An ipcBuffer started too small grows as it is written, from the Go heap
// into mapped memory, keeping the bytes written so far; Seek reports the
// position.
func TestIPCBufferGrows(t *testing.T) {
	mem := lancerows.NewRecycler(1)
	defer mem.Close()
	b := &ipcBuffer{mem: mem, buf: mem.AllocateUninit(16)}
	var want []byte
	chunk := make([]byte, 1000)
	for i := 0; len(want) < 1<<20; i++ {
		for j := range chunk {
			chunk[j] = byte(i*7 + j)
		}
		n, err := b.Write(chunk[:1+i%len(chunk)])
		require.NoError(t, err)
		want = append(want, chunk[:n]...)
		pos, err := b.Seek(0, io.SeekCurrent)
		require.NoError(t, err)
		require.Equal(t, int64(len(want)), pos)
	}
	assert.GreaterOrEqual(t, len(b.buf), len(want))
	assert.True(t, bytes.Equal(want, b.buf[:b.n]), "bytes written across growth")
	mem.Free(b.buf)

	_, err := b.Seek(0, io.SeekStart)
	assert.Error(t, err, "only the current position")
}
