package lancestore

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/danube-connect/danube-connect/plugins/lancedb/lancerows"
)

// IndexType is the kind of vector index built once a table is big enough.
type IndexType string

// The vector index types lancedb-go can build (with LanceDB's default
// parameters: the SDK takes no index parameters).
const (
	IndexIVFPQ     IndexType = "ivf_pq"
	IndexIVFFlat   IndexType = "ivf_flat"
	IndexIVFHNSWPQ IndexType = "ivf_hnsw_pq"
	IndexIVFHNSWSQ IndexType = "ivf_hnsw_sq"
)

// IndexTypes lists the accepted index types, default first.
var IndexTypes = []IndexType{IndexIVFPQ, IndexIVFFlat, IndexIVFHNSWPQ, IndexIVFHNSWSQ}

// Index asks for a vector index on the vector column once a table holds
// MinRows rows (0: never). A table that already has an index on the column
// is left alone.
type Index struct {
	Type    IndexType
	MinRows int64
}

// Options configure a Store.
type Options struct {
	// URI is a local directory or s3://bucket/prefix.
	URI string
	// S3 settings, applied to the process environment (see S3).
	S3 S3
	// Schema declares the columns; it must have been validated.
	Schema lancerows.Schema
	// CreateMissing creates a missing table with Schema.Arrow().
	CreateMissing bool
	// MaxOpenTables bounds the cache of open table handles.
	MaxOpenTables int
	// MaxNativeCalls bounds the adds and index builds running at once: each
	// holds an OS thread blocked in the native library for its whole
	// duration. 0 means GOMAXPROCS.
	MaxNativeCalls int
	Index          Index
	// OnIndex, when set, is told about every index build.
	OnIndex func(table string, took time.Duration, err error)
}

// ErrTableNotFound is returned by a backend for a table that does not exist.
var ErrTableNotFound = errors.New("table not found")

// Backend is a LanceDB database: lancedb-go with the lancedb build tag (see
// Open), or another implementation (an in-memory one in tests).
type Backend interface {
	// OpenTable returns ErrTableNotFound for a missing table.
	OpenTable(ctx context.Context, name string) (TableHandle, *arrow.Schema, error)
	CreateTable(ctx context.Context, name string, schema *arrow.Schema) (TableHandle, *arrow.Schema, error)
	ListTables(ctx context.Context) ([]string, error)
	Close() error
}

// TableHandle is an open table of a Backend.
type TableHandle interface {
	// Add appends rec in one commit (one table version).
	Add(ctx context.Context, rec arrow.Record) error
	Count(ctx context.Context) (int64, error)
	HasIndex(ctx context.Context, column string) (bool, error)
	CreateIndex(ctx context.Context, column string, typ IndexType) error
	Close() error
}

// Store is a connection to one LanceDB database with a bounded cache of open
// tables. Its methods are safe for concurrent use.
type Store struct {
	opts Options
	be   Backend
	sem  chan struct{}
	wg   sync.WaitGroup // index builds

	mu     sync.Mutex
	tables map[string]*list.Element // of *Table
	lru    *list.List               // front: most recently used
	closed bool
}

// Table is an open table; hold it between Acquire and Release.
type Table struct {
	name   string
	h      TableHandle
	layout *lancerows.Layout

	// guarded by Store.mu
	refs        int
	evicted     bool
	rows        int64 // known rows (counted at open when an index is wanted)
	indexed     bool
	indexing    bool
	nextIndexAt int64
}

// Name is the table name.
func (t *Table) Name() string { return t.name }

// Layout binds the configured schema to this table's schema.
func (t *Table) Layout() *lancerows.Layout { return t.layout }

// Open connects to the database at opts.URI.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := applyS3Env(opts.S3); err != nil {
		return nil, err
	}
	be, err := openBackend(ctx, opts.URI)
	if err != nil {
		return nil, err
	}
	return New(be, opts), nil
}

// New returns a Store over be.
func New(be Backend, opts Options) *Store {
	if opts.MaxOpenTables < 1 {
		opts.MaxOpenTables = 16
	}
	if opts.MaxNativeCalls < 1 {
		opts.MaxNativeCalls = runtime.GOMAXPROCS(0)
	}
	if opts.Index.Type == "" {
		opts.Index.Type = IndexIVFPQ
	}
	return &Store{opts: opts, be: be, sem: make(chan struct{}, opts.MaxNativeCalls),
		tables: map[string]*list.Element{}, lru: list.New()}
}

// Ping lists the tables of the database: it fails when the storage is
// unreachable or the credentials are refused.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.acquireSlot(ctx); err != nil {
		return err
	}
	defer func() { <-s.sem }()
	if _, err := s.be.ListTables(ctx); err != nil {
		return fmt.Errorf("listing the tables at %s: %w", s.opts.URI, err)
	}
	return nil
}

// Acquire returns the open table name, opening it (and creating it when
// missing and allowed) on first use. Release it after use.
func (s *Store) Acquire(ctx context.Context, name string) (*Table, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("lancedb store is closed")
	}
	if e, ok := s.tables[name]; ok {
		s.lru.MoveToFront(e)
		t := e.Value.(*Table)
		t.refs++
		return t, nil
	}
	t, err := s.open(ctx, name)
	if err != nil {
		return nil, err
	}
	t.refs++
	s.tables[name] = s.lru.PushFront(t)
	s.evict()
	return t, nil
}

// Release gives back a table from Acquire.
func (s *Store) Release(t *Table) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t.refs--
	if t.evicted && t.refs == 0 {
		_ = t.h.Close()
	}
}

// open runs with s.mu held: opens are rare, and holding the lock makes two
// callers of a new table wait for one open instead of racing to create it.
func (s *Store) open(ctx context.Context, name string) (*Table, error) {
	h, schema, err := s.be.OpenTable(ctx, name)
	if errors.Is(err, ErrTableNotFound) {
		if !s.opts.CreateMissing {
			return nil, fmt.Errorf("table %q does not exist at %s (create_table is off)", name, s.opts.URI)
		}
		var cerr error
		h, schema, cerr = s.be.CreateTable(ctx, name, s.opts.Schema.Arrow())
		if cerr != nil {
			// Another writer may have created it meanwhile.
			if h, schema, err = s.be.OpenTable(ctx, name); err != nil {
				return nil, fmt.Errorf("creating table %q: %w", name, cerr)
			}
		} else {
			err = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening table %q: %w", name, err)
	}
	layout, err := s.opts.Schema.Bind(schema)
	if err != nil {
		_ = h.Close()
		return nil, fmt.Errorf("table %q does not fit the configured schema: %w", name, err)
	}
	t := &Table{name: name, h: h, layout: layout}
	if s.opts.Index.MinRows > 0 {
		if t.indexed, err = h.HasIndex(ctx, layout.VectorColumn()); err == nil && !t.indexed {
			t.rows, err = h.Count(ctx)
		}
		if err != nil {
			_ = h.Close()
			return nil, fmt.Errorf("table %q: reading its indexes and row count: %w", name, err)
		}
		t.nextIndexAt = s.opts.Index.MinRows
	}
	return t, nil
}

// evict closes the least recently used tables beyond MaxOpenTables; a table
// still in use closes when released.
func (s *Store) evict() {
	for e := s.lru.Back(); e != nil && s.lru.Len() > s.opts.MaxOpenTables; {
		prev := e.Prev()
		t := e.Value.(*Table)
		s.lru.Remove(e)
		delete(s.tables, t.name)
		t.evicted = true
		if t.refs == 0 {
			_ = t.h.Close()
		}
		e = prev
	}
}

// Add appends rec to t in one native call: one new table version. It waits
// for a native call slot first (bounded by MaxNativeCalls).
func (s *Store) Add(ctx context.Context, t *Table, rec arrow.Record) error {
	if rec.NumRows() == 0 {
		return nil
	}
	if err := s.acquireSlot(ctx); err != nil {
		return err
	}
	err := t.h.Add(ctx, rec)
	<-s.sem
	if err != nil {
		return err
	}
	s.mu.Lock()
	t.rows += rec.NumRows()
	if s.opts.Index.MinRows > 0 && !t.indexed && !t.indexing && t.rows >= t.nextIndexAt && !s.closed {
		t.indexing = true
		t.refs++
		s.wg.Add(1)
		go s.buildIndex(t)
	}
	s.mu.Unlock()
	return nil
}

func (s *Store) acquireSlot(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// buildIndex runs in the background: an index build reads the whole table
// and can take minutes, which must not hold up the writes.
func (s *Store) buildIndex(t *Table) {
	defer s.wg.Done()
	s.sem <- struct{}{}
	start := time.Now()
	err := t.h.CreateIndex(context.Background(), t.layout.VectorColumn(), s.opts.Index.Type)
	<-s.sem
	took := time.Since(start)
	s.mu.Lock()
	t.indexing = false
	if err == nil {
		t.indexed = true
	} else {
		// Try again once as many rows again have arrived.
		t.nextIndexAt = t.rows + s.opts.Index.MinRows
	}
	s.mu.Unlock()
	s.Release(t)
	if s.opts.OnIndex != nil {
		s.opts.OnIndex(t.name, took, err)
	}
}

// Close waits for index builds, then closes every table and the connection.
func (s *Store) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("closing lancedb: an index build is still running: %w", ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for e := s.lru.Front(); e != nil; e = e.Next() {
		t := e.Value.(*Table)
		t.evicted = true
		if t.refs == 0 {
			errs = append(errs, t.h.Close())
		}
	}
	s.lru.Init()
	s.tables = map[string]*list.Element{}
	errs = append(errs, s.be.Close())
	return errors.Join(errs...)
}
