package lancestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/lancedb/lancerows"
)

// fakeBackend stands in for lancedb-go: tables are schemas plus row counts.
type fakeBackend struct {
	mu        sync.Mutex
	tables    map[string]*fakeTable
	opens     int
	createErr error
	addDelay  time.Duration
	active    atomic.Int32 // native calls running now
	maxActive atomic.Int32
	closed    bool
}

type fakeTable struct {
	be         *fakeBackend
	schema     *arrow.Schema
	rows       int64
	adds       int
	indexed    bool
	indexCalls int
	indexErr   error
	closes     int
}

type fakeHandle struct{ t *fakeTable }

func (b *fakeBackend) enter() func() {
	n := b.active.Add(1)
	for {
		m := b.maxActive.Load()
		if n <= m || b.maxActive.CompareAndSwap(m, n) {
			break
		}
	}
	return func() { b.active.Add(-1) }
}

func (b *fakeBackend) OpenTable(_ context.Context, name string) (TableHandle, *arrow.Schema, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tables[name]
	if !ok {
		return nil, nil, ErrTableNotFound
	}
	b.opens++
	return fakeHandle{t}, t.schema, nil
}

func (b *fakeBackend) CreateTable(_ context.Context, name string, schema *arrow.Schema) (TableHandle, *arrow.Schema, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.createErr != nil {
		return nil, nil, b.createErr
	}
	if _, ok := b.tables[name]; ok {
		return nil, nil, fmt.Errorf("table %s already exists", name)
	}
	t := &fakeTable{be: b, schema: schema}
	b.tables[name] = t
	b.opens++
	return fakeHandle{t}, schema, nil
}

func (b *fakeBackend) ListTables(context.Context) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for n := range b.tables {
		out = append(out, n)
	}
	return out, nil
}

func (b *fakeBackend) Close() error { b.closed = true; return nil }

func (h fakeHandle) Add(_ context.Context, rec arrow.Record) error {
	defer h.t.be.enter()()
	time.Sleep(h.t.be.addDelay)
	h.t.be.mu.Lock()
	defer h.t.be.mu.Unlock()
	if !rec.Schema().Equal(h.t.schema) {
		return errors.New("schema mismatch")
	}
	h.t.rows += rec.NumRows()
	h.t.adds++
	return nil
}

func (h fakeHandle) Count(context.Context) (int64, error) {
	h.t.be.mu.Lock()
	defer h.t.be.mu.Unlock()
	return h.t.rows, nil
}

func (h fakeHandle) HasIndex(context.Context, string) (bool, error) {
	h.t.be.mu.Lock()
	defer h.t.be.mu.Unlock()
	return h.t.indexed, nil
}

func (h fakeHandle) CreateIndex(_ context.Context, column string, typ IndexType) error {
	defer h.t.be.enter()()
	h.t.be.mu.Lock()
	defer h.t.be.mu.Unlock()
	h.t.indexCalls++
	if h.t.indexErr != nil {
		return h.t.indexErr
	}
	h.t.indexed = true
	return nil
}

func (h fakeHandle) Close() error {
	h.t.be.mu.Lock()
	defer h.t.be.mu.Unlock()
	h.t.closes++
	return nil
}

func testOptions() Options {
	s := lancerows.Schema{ID: lancerows.Column{Name: "id", Type: lancerows.Int64},
		Vector: lancerows.Vector{Name: "vector", Dimension: 2}}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	return Options{URI: "mem://", Schema: s, CreateMissing: true}
}

func record(t *testing.T, tb *Table, rows int) arrow.Record {
	t.Helper()
	b := lancerows.NewBuilder(tb.Layout(), 0, memory.NewGoAllocator())
	defer b.Release()
	for i := 0; i < rows; i++ {
		_, err := b.Append([]byte(fmt.Sprintf(`{"id":%d,"vector":[1,2]}`, i)))
		require.NoError(t, err)
	}
	return b.NewRecord()
}

func add(t *testing.T, s *Store, name string, rows int) {
	t.Helper()
	ctx := context.Background()
	tb, err := s.Acquire(ctx, name)
	require.NoError(t, err)
	defer s.Release(tb)
	rec := record(t, tb, rows)
	defer rec.Release()
	require.NoError(t, s.Add(ctx, tb, rec))
}

func TestStoreCreatesAndCachesTables(t *testing.T) {
	be := &fakeBackend{tables: map[string]*fakeTable{}}
	opts := testOptions()
	opts.MaxOpenTables = 2
	s := New(be, opts)
	add(t, s, "a", 3)
	add(t, s, "a", 4)
	assert.Equal(t, 1, be.opens, "second use hits the cache")
	assert.Equal(t, int64(7), be.tables["a"].rows)
	assert.Equal(t, 2, be.tables["a"].adds)

	add(t, s, "b", 1)
	add(t, s, "c", 1) // evicts a, the least recently used
	assert.Equal(t, 1, be.tables["a"].closes)
	add(t, s, "a", 1) // evicts b
	assert.Equal(t, 4, be.opens)
	assert.Equal(t, 1, be.tables["b"].closes)

	// A table in use is closed only when released.
	ctx := context.Background()
	held, err := s.Acquire(ctx, "c")
	require.NoError(t, err)
	add(t, s, "d", 1) // evicts a
	add(t, s, "e", 1) // evicts c, in use
	assert.Equal(t, 6, be.opens, "d and e opened")
	assert.Equal(t, 0, be.tables["c"].closes)
	s.Release(held)
	assert.Equal(t, 1, be.tables["c"].closes)

	require.NoError(t, s.Close(ctx))
	assert.True(t, be.closed)
	_, err = s.Acquire(ctx, "a")
	assert.Error(t, err)
}

func TestStoreMissingTable(t *testing.T) {
	be := &fakeBackend{tables: map[string]*fakeTable{}}
	opts := testOptions()
	opts.CreateMissing = false
	s := New(be, opts)
	_, err := s.Acquire(context.Background(), "x")
	assert.ErrorContains(t, err, `table "x" does not exist at mem:// (create_table is off)`)

	// Create fails but the table appeared meanwhile (another writer): use it.
	be.createErr = errors.New("already exists")
	opts = testOptions()
	s = New(be, opts)
	be.tables["y"] = &fakeTable{be: be, schema: opts.Schema.Arrow()}
	_, err = s.Acquire(context.Background(), "z")
	assert.ErrorContains(t, err, `creating table "z": already exists`)
	tb, err := s.Acquire(context.Background(), "y")
	require.NoError(t, err)
	s.Release(tb)

	// A table whose schema does not fit is refused with the reason.
	be.tables["w"] = &fakeTable{be: be, schema: arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil)}
	_, err = s.Acquire(context.Background(), "w")
	assert.ErrorContains(t, err, `table "w" does not fit the configured schema: id: column "id" is utf8 in the table, configured as int64`)
}

func TestStoreBoundsNativeCalls(t *testing.T) {
	be := &fakeBackend{tables: map[string]*fakeTable{}, addDelay: 20 * time.Millisecond}
	opts := testOptions()
	opts.MaxNativeCalls = 2
	s := New(be, opts)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			add(t, s, fmt.Sprintf("t%d", i%3), 10)
		}(i)
	}
	wg.Wait()
	assert.Equal(t, int32(2), be.maxActive.Load())

	// A caller waiting for a slot gives up with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	s.sem <- struct{}{}
	s.sem <- struct{}{}
	tb, err := s.Acquire(context.Background(), "t0")
	require.NoError(t, err)
	rec := record(t, tb, 1)
	defer rec.Release()
	assert.ErrorIs(t, s.Add(ctx, tb, rec), context.DeadlineExceeded)
	s.Release(tb)
}

func TestStoreBuildsIndexOnce(t *testing.T) {
	be := &fakeBackend{tables: map[string]*fakeTable{}}
	opts := testOptions()
	opts.Index = Index{Type: IndexIVFPQ, MinRows: 100}
	var mu sync.Mutex
	var builds []error
	opts.OnIndex = func(table string, _ time.Duration, err error) {
		mu.Lock()
		builds = append(builds, err)
		mu.Unlock()
	}
	s := New(be, opts)
	add(t, s, "docs", 60)
	add(t, s, "docs", 30)
	require.NoError(t, s.Close(context.Background())) // waits for builds
	assert.Equal(t, 0, be.tables["docs"].indexCalls, "below min_rows")

	be.tables["docs"].indexErr = errors.New("kmeans failed")
	s = New(be, opts)
	add(t, s, "docs", 20) // 90 counted at open + 20
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(builds) == 1 }, 5*time.Second, time.Millisecond)
	add(t, s, "docs", 50) // failed build retries only after min_rows more
	be.mu.Lock()
	assert.Equal(t, 1, be.tables["docs"].indexCalls)
	be.tables["docs"].indexErr = nil
	be.mu.Unlock()
	add(t, s, "docs", 50)
	require.NoError(t, s.Close(context.Background()))
	assert.Equal(t, 2, be.tables["docs"].indexCalls)
	assert.True(t, be.tables["docs"].indexed)
	require.Len(t, builds, 2)
	assert.EqualError(t, builds[0], "kmeans failed")
	assert.NoError(t, builds[1])

	// Indexed tables are left alone.
	s = New(be, opts)
	add(t, s, "docs", 500)
	require.NoError(t, s.Close(context.Background()))
	assert.Equal(t, 2, be.tables["docs"].indexCalls)
}

func TestS3EnvIsProcessWide(t *testing.T) {
	envMu.Lock()
	envSet = map[string]string{}
	envMu.Unlock()
	t.Setenv("AWS_ENDPOINT", "")
	t.Setenv("AWS_ALLOW_HTTP", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	a := S3{Region: "us-east-1", Endpoint: "http://127.0.0.1:9000", AccessKeyID: "k", SecretAccessKey: "s"}
	require.NoError(t, applyS3Env(a))
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
		"AWS_ENDPOINT": "http://127.0.0.1:9000", "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"} {
		assert.Equal(t, v, lookupEnv(k), k)
	}
	require.NoError(t, applyS3Env(a), "same settings again")
	require.NoError(t, applyS3Env(S3{}), "empty settings leave the environment alone")
	b := a
	b.Endpoint = "http://127.0.0.1:9999"
	assert.ErrorContains(t, applyS3Env(b), "AWS_ENDPOINT differs")
}

func lookupEnv(k string) string {
	v, _ := os.LookupEnv(k)
	return v
}
