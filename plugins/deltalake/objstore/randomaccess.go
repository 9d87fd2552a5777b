package objstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
)

// ReaderAtSeeker is the random access a columnar reader needs (a Parquet
// reader seeks to the footer first, then reads column chunks at offsets).
type ReaderAtSeeker interface {
	io.ReaderAt
	io.Seeker
}

// DefaultRandomAccessMemory is the largest object OpenRandomAccess callers
// usually keep in memory; larger ones go to a temporary file.
const DefaultRandomAccessMemory int64 = 8 << 20

// OpenRandomAccess returns a random-access reader over an object and a
// function that releases it: the store's own stream when it supports
// ReadAt+Seek (local files, so a large object is not copied), else the
// object in memory when it is at most maxInMemory bytes, else a temporary
// file, so that memory does not grow with the size of the object (large
// checkpoints, data files being compacted).
func OpenRandomAccess(ctx context.Context, store Store, key string, maxInMemory int64) (ReaderAtSeeker, func(), error) {
	rc, err := store.Open(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	if ras, ok := rc.(ReaderAtSeeker); ok {
		return ras, func() { _ = rc.Close() }, nil
	}
	defer rc.Close()
	head, err := io.ReadAll(io.LimitReader(rc, maxInMemory+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", key, err)
	}
	if int64(len(head)) <= maxInMemory {
		return bytes.NewReader(head), func() {}, nil
	}
	f, err := os.CreateTemp("", "danube-connect-delta-*.parquet")
	if err != nil {
		return nil, nil, fmt.Errorf("spooling %s: %w", key, err)
	}
	discard := func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}
	if _, err := f.Write(head); err != nil {
		discard()
		return nil, nil, fmt.Errorf("spooling %s: %w", key, err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		discard()
		return nil, nil, fmt.Errorf("reading %s: %w", key, err)
	}
	return f, discard, nil
}
