package deltaops

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/parquetfile"
)

const baseSchema = `{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"day","type":"string","nullable":true,"metadata":{}}]}`

func sp(s string) *string { return &s }

func mustSchema(t *testing.T, s string) *delta.StructType {
	t.Helper()
	st, err := delta.ParseSchema([]byte(s))
	require.NoError(t, err)
	return st
}

// newStore is an empty table location on local disk.
func newStore(t *testing.T) objstore.Store {
	t.Helper()
	st, err := objstore.NewLocal(t.TempDir())
	require.NoError(t, err)
	return st
}

// keys lists every object of the store.
func keys(t *testing.T, st objstore.Store) []string {
	t.Helper()
	objs, err := st.List(context.Background(), "", "")
	require.NoError(t, err)
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

// hookStore calls onGet (once armed) before serving a Get or Open, to interleave
// another writer's commit with an operation in progress.
type hookStore struct {
	objstore.Store
	mu    sync.Mutex
	onGet func(key string)
}

func (h *hookStore) fire(key string) {
	h.mu.Lock()
	fn := h.onGet
	h.onGet = nil
	h.mu.Unlock()
	if fn != nil {
		fn(key)
	}
}

func (h *hookStore) Get(ctx context.Context, key string) ([]byte, error) {
	h.fire(key)
	return h.Store.Get(ctx, key)
}

func (h *hookStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	h.fire(key)
	return h.Store.Open(ctx, key)
}

const optSchema = `{"type":"struct","fields":[
{"name":"id","type":"long","nullable":true,"metadata":{}},
{"name":"user","type":{"type":"struct","fields":[{"name":"name","type":"string","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},
{"name":"day","type":"string","nullable":true,"metadata":{}}]}`

// writeDataFile writes rows [from, to) as a Parquet file in the partition
// and returns its add action. withAge adds the evolved nested field user.age.
func writeDataFile(t *testing.T, store objstore.Store, day string, from, to int64, withAge bool) delta.Add {
	t.Helper()
	userFields := []arrow.Field{{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true}}
	if withAge {
		userFields = append(userFields, arrow.Field{Name: "age", Type: arrow.PrimitiveTypes.Int64, Nullable: true})
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "user", Type: arrow.StructOf(userFields...), Nullable: true},
	}, nil)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	for i := from; i < to; i++ {
		rb.Field(0).(*array.Int64Builder).Append(i)
		ub := rb.Field(1).(*array.StructBuilder)
		if i%5 == 0 {
			ub.AppendNull()
			continue
		}
		ub.Append(true)
		ub.FieldBuilder(0).(*array.StringBuilder).Append(fmt.Sprintf("u%d", i))
		if withAge {
			ub.FieldBuilder(1).(*array.Int64Builder).Append(i * 2)
		}
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	fw, err := parquetfile.NewFileWriter(&buf, schema, parquetfile.WriterOptions{Compression: "snappy"})
	require.NoError(t, err)
	require.NoError(t, fw.Write(rec))
	df, err := fw.Close()
	require.NoError(t, err)
	key := "day=" + day + "/" + parquetfile.FileName(0, "snappy")
	require.NoError(t, store.Put(context.Background(), key, buf.Bytes()))
	return delta.Add{Path: delta.EncodePath(key), PartitionValues: map[string]*string{"day": sp(day)}, Size: df.Size,
		ModificationTime: 1, DataChange: true, Stats: df.Stats}
}

type rowSummary struct {
	ids  []int64
	ages int // non-null user.age values
}

// readTable reads every live file with the given Arrow schema (data columns).
func readTable(t *testing.T, store objstore.Store, snap *delta.Snapshot) map[string]*rowSummary {
	t.Helper()
	schema, err := dataArrowSchema(snap.Schema(), snap.PartitionColumns())
	require.NoError(t, err)
	out := map[string]*rowSummary{}
	for _, f := range snap.Files() {
		key, err := f.DecodedPath()
		require.NoError(t, err)
		data, err := store.Get(context.Background(), key)
		require.NoError(t, err)
		assert.Equal(t, int64(len(data)), f.Size, "add.size equals the object size")
		day := *f.PartitionValues["day"]
		if out[day] == nil {
			out[day] = &rowSummary{}
		}
		err = readProjected(context.Background(), bytes.NewReader(data), schema, func(rec arrow.RecordBatch) error {
			defer rec.Release()
			ids := rec.Column(0).(*array.Int64)
			user := rec.Column(1).(*array.Struct)
			age := user.Field(1).(*array.Int64)
			for i := 0; i < ids.Len(); i++ {
				out[day].ids = append(out[day].ids, ids.Value(i))
				if user.IsValid(i) && age.IsValid(i) {
					out[day].ages++
				}
			}
			return nil
		})
		require.NoError(t, err)
	}
	for _, s := range out {
		sort.Slice(s.ids, func(i, j int) bool { return s.ids[i] < s.ids[j] })
	}
	return out
}

func setupOptimizeTable(t *testing.T, store objstore.Store) *delta.Table {
	t.Helper()
	ctx := context.Background()
	tbl, err := delta.Create(ctx, store, delta.CreateOptions{Schema: mustSchema(t, optSchema), PartitionColumns: []string{"day"}}, delta.TableOptions{CheckpointInterval: -1})
	require.NoError(t, err)
	id := int64(0)
	for i := 0; i < 4; i++ {
		for _, day := range []string{"2024-01-01", "2024-01-02"} {
			tx := tbl.NewTransaction()
			tx.Adds = []delta.Add{writeDataFile(t, store, day, id, id+10, false)}
			id += 10
			_, err := tbl.Commit(ctx, tx)
			require.NoError(t, err)
		}
	}
	// Evolve: user.age appears in later files.
	evolved := mustSchema(t, `{"type":"struct","fields":[{"name":"user","type":{"type":"struct","fields":[{"name":"name","type":"string","nullable":true,"metadata":{}},{"name":"age","type":"long","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}}]}`)
	tx := tbl.NewTransaction()
	tx.SetSchema(evolved)
	tx.Adds = []delta.Add{writeDataFile(t, store, "2024-01-01", id, id+10, true)}
	_, err = tbl.Commit(ctx, tx)
	require.NoError(t, err)
	return tbl
}

func mustDecode(t *testing.T, p string) string {
	k, err := delta.DecodePath(p)
	require.NoError(t, err)
	return k
}
