package tablewriter

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// brokenUploads fails the data-file uploads of a store while failing is
// set: each upload accepts a few bytes and then errors, as a connection
// that breaks mid-upload.
type brokenUploads struct {
	objstore.Store
	failing *atomic.Bool
}

var errBrokenUpload = errors.New("connection reset during upload")

func (s brokenUploads) Create(ctx context.Context, key string) (objstore.Upload, error) {
	w, err := s.Store.Create(ctx, key)
	if err != nil || !s.failing.Load() {
		return w, err
	}
	return &brokenWriter{Upload: w}, nil
}

type brokenWriter struct {
	objstore.Upload
	n int
}

func (w *brokenWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > 64 {
		return 0, errBrokenUpload
	}
	w.n += len(p)
	return w.Upload.Write(p)
}

// TestFailedUploadsReleaseArrowBuffers: every failed upload returns all the
// Arrow and Parquet buffers it used to the allocator (nothing stays live
// once the failed Write returned), and the table takes the rows once the
// store works again.
func TestFailedUploadsReleaseArrowBuffers(t *testing.T) {
	dir := t.TempDir()
	var failing atomic.Bool
	conf := testConfig()
	conf.OpenStore = func(ctx context.Context, location string) (objstore.Store, error) {
		s, err := objstore.Open(ctx, location, objstore.Options{})
		return brokenUploads{Store: s, failing: &failing}, err
	}
	w := newTestWriter(t, conf)
	batch := func(from int) []Message {
		var p []string
		for i := from; i < from+200; i++ {
			p = append(p, fmt.Sprintf(`{"id":%d,"name":"n-%d","tags":["a","b"],"user":{"age":%d}}`, i, i, i%90))
		}
		return jsonMessages(dir, p...)
	}
	writeAll(t, w, batch(0)...)
	require.Zero(t, w.mem.LiveBuffers(), "buffers live after a successful commit")

	failing.Store(true)
	for round := 0; round < 5; round++ {
		failed := 0
		require.NoError(t, w.Write(context.Background(), batch(1000*(round+1)), func(i int, err error) {
			failed++
			require.ErrorIs(t, err, errBrokenUpload)
		}))
		require.Equal(t, 200, failed)
		require.Zero(t, w.mem.LiveBuffers(), "buffers live after failed upload %d", round+1)
	}
	failing.Store(false)
	writeAll(t, w, batch(9000)...)
	_, rows := tableRows(t, dir)
	require.Len(t, rows, 400)
}
