// Package objstore is the small object-store interface the Delta Lake writer
// needs, with implementations for local disk, S3, Azure Blob and GCS. It has
// no Benthos imports.
//
// The one operation that makes Delta commits safe is PutIfAbsent: it must be
// atomic on the server (or the file system), never check-then-write.
package objstore

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotExist is returned (wrapped) when a key does not exist.
var ErrNotExist = errors.New("object does not exist")

// ErrExists is returned (wrapped) by PutIfAbsent when the key already exists.
var ErrExists = errors.New("object already exists")

// ObjectInfo describes one listed object. Key is relative to the store root.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Store is rooted at a table location; every key is a slash-separated path
// relative to that root (for example "_delta_log/00000000000000000000.json").
// Implementations must be safe for concurrent use.
type Store interface {
	// Get reads a whole object. Missing keys return an error wrapping ErrNotExist.
	Get(ctx context.Context, key string) ([]byte, error)
	// Open streams an object; the caller closes the reader.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Put writes (or overwrites) an object atomically: readers see either the
	// old or the whole new content.
	Put(ctx context.Context, key string, data []byte) error
	// PutIfAbsent creates key with data only if it does not exist yet, as one
	// atomic server-side operation. If it exists the error wraps ErrExists.
	// Cloud stores retry transient failures; when a retry finds the key
	// already holding exactly data (the earlier attempt was applied but its
	// answer lost), the call reports success, so data must be unique per
	// writer (Delta commits are: commitInfo timestamps, UUID file names).
	PutIfAbsent(ctx context.Context, key string, data []byte) error
	// Create streams a new object (data files can be large). The object is
	// only visible once Close returns nil; Abort discards it. ctx governs
	// the whole upload, until Close or Abort.
	Create(ctx context.Context, key string) (Upload, error)
	// List returns the objects whose key starts with prefix and sorts after
	// startAfter (lexicographically), in ascending key order.
	List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error)
	// Stat returns the size and modification time of one object.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Delete removes an object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// URL returns the location this store is rooted at, for messages.
	URL() string
}

// Upload streams one object into a Store (named apart from tablewriter.Writer,
// which writes whole tables).
type Upload interface {
	io.Writer
	// Close finishes the upload and makes the object visible.
	Close() error
	// Abort discards a partial upload; safe to call after Close.
	Abort() error
}
