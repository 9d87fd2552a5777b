//go:build lancedb

package lancestore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/lancedb/lancedb-go/pkg/contracts"
	"github.com/lancedb/lancedb-go/pkg/lancedb"

	"github.com/danube-connect/danube-connect/plugins/lancedb/lancerows"
)

// Built reports whether this binary links the LanceDB native library.
const Built = true

// ErrNotBuilt is never returned by a binary built with the lancedb tag.
var ErrNotBuilt = errors.New("unreachable: built with LanceDB support")

type nativeBackend struct {
	conn contracts.IConnection
	ipc  *lancerows.Recycler // the IPC buffers of its tables' adds
}

func openBackend(ctx context.Context, uri string) (Backend, error) {
	tuneMalloc()
	conn, err := lancedb.Connect(ctx, uri, nil)
	if err != nil {
		return nil, err
	}
	return &nativeBackend{conn: conn, ipc: newIPCMemory()}, nil
}

func (b *nativeBackend) OpenTable(ctx context.Context, name string) (TableHandle, *arrow.Schema, error) {
	names, err := b.conn.TableNames(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("listing tables: %w", err)
	}
	if !slices.Contains(names, name) {
		return nil, nil, ErrTableNotFound
	}
	t, err := b.conn.OpenTable(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	return b.schemaOf(ctx, t)
}

func (b *nativeBackend) CreateTable(ctx context.Context, name string, schema *arrow.Schema) (TableHandle, *arrow.Schema, error) {
	s, err := lancedb.NewSchema(schema)
	if err != nil {
		return nil, nil, err
	}
	t, err := b.conn.CreateTable(ctx, name, s)
	if err != nil {
		return nil, nil, err
	}
	return b.schemaOf(ctx, t)
}

func (b *nativeBackend) schemaOf(ctx context.Context, t contracts.ITable) (TableHandle, *arrow.Schema, error) {
	schema, err := t.Schema(ctx)
	if err != nil {
		_ = t.Close()
		return nil, nil, fmt.Errorf("reading the table schema: %w", err)
	}
	return nativeTable{t: t, handle: tableHandle(t), ipc: b.ipc}, schema, nil
}

func (b *nativeBackend) ListTables(ctx context.Context) ([]string, error) {
	return b.conn.TableNames(ctx)
}

// Close closes the connection and unmaps the IPC buffers kept for reuse.
// An add of a table still in use is unaffected: the buffer it holds is not
// among the kept ones, and it is unmapped when the add frees it (as is any
// buffer allocated after Close).
func (b *nativeBackend) Close() error {
	err := b.conn.Close()
	b.ipc.Close()
	return err
}

type nativeTable struct {
	t      contracts.ITable
	handle unsafe.Pointer      // the native handle for addIPC; nil: use AddRecords
	ipc    *lancerows.Recycler // addIPC's buffers, the backend's
}

// Add runs while the Store holds the table, which it closes only once
// released, so the handle stays valid.
func (n nativeTable) Add(ctx context.Context, rec arrow.Record) error {
	if n.handle != nil {
		return addIPC(n.ipc, n.handle, rec)
	}
	return n.t.AddRecords(ctx, []arrow.Record{rec}, nil)
}

func (n nativeTable) Count(ctx context.Context) (int64, error) { return n.t.Count(ctx) }

func (n nativeTable) HasIndex(ctx context.Context, column string) (bool, error) {
	idx, err := n.t.GetAllIndexes(ctx)
	if err != nil {
		return false, err
	}
	for _, i := range idx {
		if slices.Contains(i.Columns, column) {
			return true, nil
		}
	}
	return false, nil
}

var nativeIndexTypes = map[IndexType]contracts.IndexType{
	IndexIVFPQ:     contracts.IndexTypeIvfPq,
	IndexIVFFlat:   contracts.IndexTypeIvfFlat,
	IndexIVFHNSWPQ: contracts.IndexTypeHnswPq,
	IndexIVFHNSWSQ: contracts.IndexTypeHnswSq,
}

func (n nativeTable) CreateIndex(ctx context.Context, column string, typ IndexType) error {
	it, ok := nativeIndexTypes[typ]
	if !ok {
		return fmt.Errorf("unknown index type %q", typ)
	}
	return n.t.CreateIndex(ctx, []string{column}, it)
}

func (n nativeTable) Close() error { return n.t.Close() }
