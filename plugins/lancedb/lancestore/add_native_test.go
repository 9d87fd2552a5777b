//go:build lancedb

package lancestore

import (
	"context"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	for _, n := range []int{1, 1000, 70000} { // the last one beyond the first buffer estimate's slack
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
