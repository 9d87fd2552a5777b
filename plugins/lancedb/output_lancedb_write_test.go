package lancedb

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/lancedb/lancestore"
)

// memBackend is an in-memory LanceDB for the glue's tests: the adds it got,
// per table. The native tests (build tag lancedb) cover the real library.
type memBackend struct {
	mu      sync.Mutex
	tables  map[string]*memTable
	failAdd error
}

type memTable struct {
	be     *memBackend
	schema *arrow.Schema
	adds   []arrow.Record
}

func (b *memBackend) OpenTable(_ context.Context, name string) (lancestore.TableHandle, *arrow.Schema, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tables[name]
	if !ok {
		return nil, nil, lancestore.ErrTableNotFound
	}
	return t, t.schema, nil
}

func (b *memBackend) CreateTable(_ context.Context, name string, schema *arrow.Schema) (lancestore.TableHandle, *arrow.Schema, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := &memTable{be: b, schema: schema}
	b.tables[name] = t
	return t, schema, nil
}

func (b *memBackend) ListTables(context.Context) ([]string, error) { return nil, nil }
func (b *memBackend) Close() error                                 { return nil }

func (t *memTable) Add(_ context.Context, rec arrow.Record) error {
	t.be.mu.Lock()
	defer t.be.mu.Unlock()
	if t.be.failAdd != nil {
		return t.be.failAdd
	}
	rec.Retain()
	t.adds = append(t.adds, rec)
	return nil
}
func (t *memTable) Count(context.Context) (int64, error)                            { return 0, nil }
func (t *memTable) HasIndex(context.Context, string) (bool, error)                  { return false, nil }
func (t *memTable) CreateIndex(context.Context, string, lancestore.IndexType) error { return nil }
func (t *memTable) Close() error                                                    { return nil }

func (t *memTable) ids() []string {
	var out []string
	for _, r := range t.adds {
		col := r.Column(0).(*array.String)
		for i := 0; i < col.Len(); i++ {
			out = append(out, col.Value(i))
		}
	}
	return out
}

func newMemOutput(t *testing.T, yaml string) (*ldbOutput, *memBackend) {
	t.Helper()
	c, err := parseConfig(t, yaml)
	require.NoError(t, err)
	out, err := newLanceDBOutput(c, 2, service.MockResources())
	require.NoError(t, err)
	be := &memBackend{tables: map[string]*memTable{}}
	out.store = lancestore.New(be, out.conf.store)
	return out, be
}

func writeMsgs(t *testing.T, out *ldbOutput, msgs ...*service.Message) map[int]string {
	t.Helper()
	batch := service.MessageBatch(msgs)
	idx := batch.Index()
	err := out.WriteBatch(context.Background(), batch)
	failed := map[int]string{}
	if err == nil {
		return failed
	}
	var be *service.BatchError
	require.True(t, errors.As(err, &be), "want a *service.BatchError, got %T: %v", err, err)
	be.WalkMessagesIndexedBy(idx, func(i int, _ *service.Message, merr error) bool {
		if merr != nil {
			failed[i] = merr.Error()
		}
		return true
	})
	return failed
}

func msg(table, payload string) *service.Message {
	m := service.NewMessage([]byte(payload))
	m.MetaSetMut("table", table)
	return m
}

// One add per table per batch; bad messages fail alone, naming the table,
// the message and the row.
func TestWriteBatchGroupsByTableAndFailsBadMessages(t *testing.T) {
	out, be := newMemOutput(t, `{uri: mem, table: '${! meta("table").or("") }', vector: {dimension: 2}, payload_format: ndjson}`)
	failed := writeMsgs(t, out,
		msg("a", `{"id":"a1","vector":[1,2]}`+"\n"+`{"id":"a2","vector":[3,4]}`),
		msg("b", `{"id":"b1","vector":[1,2]}`),
		msg("a", `{"id":"a3","vector":[1,2]}`+"\n"+`{"id":"bad","vector":[1]}`),
		msg("a", `{"id":"a4","vector":[5,6]}`),
		service.NewMessage([]byte(`{"id":"x","vector":[1,2]}`)),
	)
	require.Len(t, failed, 2, "%v", failed)
	assert.Equal(t, `table a, message 2: row 2 (line 2): vector "vector": dimension 1, want 2`, failed[2])
	assert.Equal(t, "message 4: table interpolation: empty table name", failed[4])
	require.Len(t, be.tables["a"].adds, 1)
	require.Len(t, be.tables["b"].adds, 1)
	assert.Equal(t, []string{"a1", "a2", "a4"}, be.tables["a"].ids())
	assert.Equal(t, []string{"b1"}, be.tables["b"].ids())

	// Nothing failed: nil, not a typed-nil *BatchError.
	require.NoError(t, out.WriteBatch(context.Background(), service.MessageBatch{msg("b", `{"id":"b2","vector":[0,0]}`)}))
	require.NoError(t, out.Close(context.Background()))
}

// A failed add fails exactly the messages of its table, with the cause.
func TestWriteBatchAddFailure(t *testing.T) {
	out, be := newMemOutput(t, `{uri: mem, table: '${! meta("table") }', vector: {dimension: 2}}`)
	require.Empty(t, writeMsgs(t, out, msg("a", `{"id":"a0","vector":[1,2]}`)))
	be.failAdd = errors.New("object store: 503 slow down")
	failed := writeMsgs(t, out,
		msg("a", `{"id":"a1","vector":[1,2]}`),
		msg("a", `{"id":"a2","vector":[1]}`),
		msg("a", `{"id":"a3","vector":[1,2]}`),
	)
	require.Len(t, failed, 3)
	for _, i := range []int{0, 2} {
		assert.Equal(t, "table a: adding 2 rows of 2 messages: object store: 503 slow down", failed[i])
	}
	assert.Contains(t, failed[1], "dimension 1, want 2")
	assert.Len(t, be.tables["a"].adds, 1)
	require.NoError(t, out.Close(context.Background()))
}

func TestWriteBatchNotConnected(t *testing.T) {
	c, err := parseConfig(t, `{uri: mem, table: t, vector: {dimension: 2}}`)
	require.NoError(t, err)
	out, err := newLanceDBOutput(c, 2, service.MockResources())
	require.NoError(t, err)
	assert.ErrorIs(t, out.WriteBatch(context.Background(), service.MessageBatch{msg("t", `{}`)}), service.ErrNotConnected)
	assert.NoError(t, out.Close(context.Background()))
}
