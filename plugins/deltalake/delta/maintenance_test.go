package delta

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/parquetfile"
)

// hookStore calls onGet (once armed) before serving a Get or Open, to interleave
// another writer's commit with an operation in progress.
type hookStore struct {
	*memStore
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
	return h.memStore.Get(ctx, key)
}

func (h *hookStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	h.fire(key)
	return h.memStore.Open(ctx, key)
}

const optSchema = `{"type":"struct","fields":[
{"name":"id","type":"long","nullable":true,"metadata":{}},
{"name":"user","type":{"type":"struct","fields":[{"name":"name","type":"string","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},
{"name":"day","type":"string","nullable":true,"metadata":{}}]}`

// writeDataFile writes rows [from, to) as a Parquet file in the partition
// and returns its add action. withAge adds the evolved nested field user.age.
func writeDataFile(t *testing.T, store *memStore, day string, from, to int64, withAge bool) Add {
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
	return Add{Path: EncodePath(key), PartitionValues: map[string]*string{"day": sp(day)}, Size: df.Size,
		ModificationTime: 1, DataChange: true, Stats: df.Stats}
}

type rowSummary struct {
	ids  []int64
	ages int // non-null user.age values
}

// readTable reads every live file with the given Arrow schema (data columns).
func readTable(t *testing.T, store *memStore, snap *Snapshot) map[string]*rowSummary {
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

func setupOptimizeTable(t *testing.T, store *memStore) *Table {
	t.Helper()
	ctx := context.Background()
	tbl, err := Create(ctx, store, CreateOptions{Schema: mustSchema(t, optSchema), PartitionColumns: []string{"day"}}, TableOptions{CheckpointInterval: -1})
	require.NoError(t, err)
	id := int64(0)
	for i := 0; i < 4; i++ {
		for _, day := range []string{"2024-01-01", "2024-01-02"} {
			tx := tbl.NewTransaction()
			tx.Adds = []Add{writeDataFile(t, store, day, id, id+10, false)}
			id += 10
			_, err := tbl.Commit(ctx, tx)
			require.NoError(t, err)
		}
	}
	// Evolve: user.age appears in later files.
	evolved := mustSchema(t, `{"type":"struct","fields":[{"name":"user","type":{"type":"struct","fields":[{"name":"name","type":"string","nullable":true,"metadata":{}},{"name":"age","type":"long","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}}]}`)
	tx := tbl.NewTransaction()
	tx.SetSchema(evolved)
	tx.Adds = []Add{writeDataFile(t, store, "2024-01-01", id, id+10, true)}
	_, err = tbl.Commit(ctx, tx)
	require.NoError(t, err)
	return tbl
}

func TestOptimizeCompactsPerPartitionKeepingRows(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	tbl := setupOptimizeTable(t, store)
	before := readTable(t, store, tbl.Snapshot())
	require.Equal(t, 9, tbl.Snapshot().NumFiles())
	readVersion := tbl.Version()
	// Maintenance works from a table that does not keep files in memory.
	tbl, err := Open(ctx, store, TableOptions{CheckpointInterval: -1, WithoutFiles: true})
	require.NoError(t, err)

	res, err := Optimize(ctx, tbl, OptimizeOptions{TargetSize: 1 << 20})
	require.NoError(t, err)
	assert.Equal(t, readVersion+1, res.Version)
	assert.Equal(t, 9, res.FilesRemoved)
	assert.Equal(t, 2, res.FilesAdded)
	assert.Empty(t, res.Skipped)

	snap, err := Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, 2, snap.NumFiles())
	after := readTable(t, store, snap)
	assert.Equal(t, before, after, "same rows per partition; evolved field kept, old rows null")
	assert.Equal(t, 8, after["2024-01-01"].ages, "10 new rows, 2 with null user")

	c, err := ReadCommit(ctx, store, res.Version)
	require.NoError(t, err)
	assert.Equal(t, "OPTIMIZE", c.CommitInfo().Operation)
	assert.False(t, *c.CommitInfo().IsBlindAppend)
	for _, a := range c.Actions {
		switch {
		case a.Remove != nil:
			assert.False(t, a.Remove.DataChange)
			assert.True(t, *a.Remove.ExtendedFileMetadata)
			assert.NotNil(t, a.Remove.DeletionTimestamp)
			assert.NotNil(t, a.Remove.Size)
			assert.NotNil(t, a.Remove.PartitionValues["day"])
		case a.Add != nil:
			assert.False(t, a.Add.DataChange)
			assert.Contains(t, a.Add.Path, ".snappy.parquet", "inputs' codec kept")
			assert.Contains(t, a.Add.Stats, `"numRecords":`)
			assert.Contains(t, a.Add.Path, "day=2024-01-0")
		}
	}
	for _, tomb := range snap.Tombstones() {
		key, _ := DecodePath(tomb.Path)
		_, err := store.Get(ctx, key)
		assert.NoError(t, err, "optimize does not delete inputs (vacuum does)")
	}

	// Nothing left to compact.
	res, err = Optimize(ctx, tbl, OptimizeOptions{TargetSize: 1 << 20})
	require.NoError(t, err)
	assert.Equal(t, int64(-1), res.Version)
}

func TestOptimizePartitionFilterAndMinFiles(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	tbl := setupOptimizeTable(t, store)
	res, err := Optimize(ctx, tbl, OptimizeOptions{TargetSize: 1 << 20, PartitionFilter: func(pv map[string]*string) bool {
		return pv["day"] != nil && *pv["day"] == "2024-01-02"
	}})
	require.NoError(t, err)
	assert.Equal(t, 4, res.FilesRemoved)
	assert.Equal(t, 1, res.FilesAdded)

	res, err = Optimize(ctx, tbl, OptimizeOptions{TargetSize: 1 << 20, MinFiles: 6})
	require.NoError(t, err)
	assert.Equal(t, int64(-1), res.Version, "only 5 small files left in 2024-01-01")
}

func TestOptimizeNeverLosesConcurrentAppend(t *testing.T) {
	ctx := context.Background()
	hs := &hookStore{memStore: newMemStore()}
	tbl := setupOptimizeTable(t, hs.memStore)
	tblHooked, err := Open(ctx, hs, TableOptions{CheckpointInterval: -1, RetryBackoff: time.Millisecond})
	require.NoError(t, err)
	other, err := Open(ctx, hs.memStore, TableOptions{CheckpointInterval: -1})
	require.NoError(t, err)
	var appended Add
	hs.onGet = func(string) {
		// Another writer appends while OPTIMIZE is reading its inputs.
		tx := other.NewTransaction()
		appended = writeDataFile(t, hs.memStore, "2024-01-01", 1000, 1010, true)
		tx.Adds = []Add{appended}
		_, err := other.Commit(ctx, tx)
		require.NoError(t, err)
	}
	before := tbl.Version()
	res, err := Optimize(ctx, tblHooked, OptimizeOptions{TargetSize: 1 << 20})
	require.NoError(t, err)
	assert.Equal(t, before+2, res.Version, "optimize retried on top of the append")

	snap, err := Load(ctx, hs.memStore)
	require.NoError(t, err)
	_, ok := snap.File(mustDecode(t, appended.Path))
	assert.True(t, ok, "the concurrent append is still live")
	rows := readTable(t, hs.memStore, snap)
	assert.Len(t, rows["2024-01-01"].ids, 60)
	assert.Len(t, rows["2024-01-02"].ids, 40)
}

func mustDecode(t *testing.T, p string) string {
	k, err := DecodePath(p)
	require.NoError(t, err)
	return k
}

func TestOptimizeConflictsWithConcurrentRemove(t *testing.T) {
	for _, withoutFiles := range []bool{false, true} {
		t.Run(fmt.Sprintf("withoutFiles=%v", withoutFiles), func(t *testing.T) { testOptimizeConcurrentRemove(t, withoutFiles) })
	}
}

func testOptimizeConcurrentRemove(t *testing.T, withoutFiles bool) {
	ctx := context.Background()
	hs := &hookStore{memStore: newMemStore()}
	tbl := setupOptimizeTable(t, hs.memStore)
	tblHooked, err := Open(ctx, hs, TableOptions{CheckpointInterval: -1, RetryBackoff: time.Millisecond, WithoutFiles: withoutFiles})
	require.NoError(t, err)
	victim := tbl.Snapshot().Files()[0]
	hs.onGet = func(string) {
		tx := tbl.NewTransaction()
		tx.Removes = []Remove{{Path: victim.Path}}
		_, err := tbl.Commit(ctx, tx)
		require.NoError(t, err)
	}
	keysBefore := len(hs.keys(""))
	_, err = Optimize(ctx, tblHooked, OptimizeOptions{TargetSize: 1 << 20})
	assert.ErrorIs(t, err, ErrConcurrentDeleteDelete)
	assert.Equal(t, keysBefore+1, len(hs.keys("")), "only the winner's commit is new: merged files were deleted")
}

func TestVacuum(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	clock := now
	store.now = func() time.Time { return clock }
	tbl, err := Create(ctx, store, CreateOptions{Schema: mustSchema(t, baseSchema)}, TableOptions{CheckpointInterval: -1, Now: func() time.Time { return now }})
	require.NoError(t, err)

	put := func(key string, age time.Duration) {
		clock = now.Add(-age)
		require.NoError(t, store.Put(ctx, key, []byte("x")))
		clock = now
	}
	commit := func(tx *Transaction) {
		_, err := tbl.Commit(ctx, tx)
		require.NoError(t, err)
	}
	put("live.parquet", 30*24*time.Hour)
	put("old-tomb.parquet", 30*24*time.Hour)
	put("new-tomb.parquet", 30*24*time.Hour)
	tx := tbl.NewTransaction()
	tx.Adds = []Add{{Path: "live.parquet", Size: 1}, {Path: "old-tomb.parquet", Size: 1}, {Path: "new-tomb.parquet", Size: 1}}
	commit(tx)
	old := now.Add(-10 * 24 * time.Hour).UnixMilli()
	recent := now.Add(-time.Hour).UnixMilli()
	tx = tbl.NewTransaction()
	tx.Removes = []Remove{{Path: "old-tomb.parquet", DeletionTimestamp: &old}, {Path: "new-tomb.parquet", DeletionTimestamp: &recent}}
	commit(tx)
	put("orphan-old.parquet", 8*24*time.Hour)
	put("d=x/orphan-old.parquet", 8*24*time.Hour)
	put("orphan-new.parquet", time.Hour)
	put("_staging/old.parquet", 30*24*time.Hour)
	put(".hidden.tmp", 30*24*time.Hour)
	put("_delta_log/00000000000000000099.crc", 30*24*time.Hour)

	_, err = Vacuum(ctx, tbl, VacuumOptions{Retention: time.Hour})
	assert.ErrorContains(t, err, "shorter")

	dry, err := Vacuum(ctx, tbl, VacuumOptions{DryRun: true})
	require.NoError(t, err)
	assert.True(t, dry.DryRun)
	want := []string{"d=x/orphan-old.parquet", "old-tomb.parquet", "orphan-old.parquet"}
	assert.Equal(t, want, dry.Files)
	for _, k := range want {
		_, err := store.Get(ctx, k)
		assert.NoError(t, err, "dry run deletes nothing")
	}
	light, err := Open(ctx, store, TableOptions{CheckpointInterval: -1, WithoutFiles: true, Now: func() time.Time { return now }})
	require.NoError(t, err)
	dry, err = Vacuum(ctx, light, VacuumOptions{DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, want, dry.Files, "same plan from a table without files in memory")

	res, err := Vacuum(ctx, tbl, VacuumOptions{})
	require.NoError(t, err)
	assert.Equal(t, want, res.Files)
	assert.Equal(t, int64(3), res.Bytes)
	for _, k := range want {
		_, err := store.Get(ctx, k)
		assert.Error(t, err, k)
	}
	for _, k := range []string{"live.parquet", "new-tomb.parquet", "orphan-new.parquet", "_staging/old.parquet", ".hidden.tmp", "_delta_log/00000000000000000099.crc", CommitKey(0), CommitKey(2)} {
		_, err := store.Get(ctx, k)
		assert.NoError(t, err, k)
	}

	// Short retention on request: the recent tombstone's file and the new orphan go too.
	res, err = Vacuum(ctx, tbl, VacuumOptions{Retention: time.Minute, AllowShortRetention: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"new-tomb.parquet", "orphan-new.parquet"}, res.Files)
}

// Appenders and a compaction loop run concurrently on separate Tables: no
// appended row is lost or duplicated, whatever the interleaving.
func TestOptimizeStressWithConcurrentAppenders(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	tbl := setupOptimizeTable(t, store)
	want := map[int64]bool{}
	for _, rows := range readTable(t, store, tbl.Snapshot()) {
		for _, id := range rows.ids {
			want[id] = true
		}
	}
	const appenders, perAppender = 2, 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := make(chan error, appenders+1)
	stop := make(chan struct{})
	for w := 0; w < appenders; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := Open(ctx, store, TableOptions{CheckpointInterval: 7, RetryBackoff: time.Millisecond, MaxCommitAttempts: 200, WithoutFiles: w == 0})
			if err != nil {
				errs <- err
				return
			}
			defer a.Close(ctx)
			for i := 0; i < perAppender; i++ {
				from := int64(10000*(w+1) + 10*i)
				day := []string{"2024-01-01", "2024-01-02"}[i%2]
				add := writeDataFile(t, store, day, from, from+10, i%3 == 0)
				tx := a.NewTransaction()
				tx.Adds = []Add{add}
				if _, err := a.Commit(ctx, tx); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for id := from; id < from+10; id++ {
					want[id] = true
				}
				mu.Unlock()
			}
		}()
	}
	var optWG sync.WaitGroup
	optWG.Add(1)
	compactions := 0
	go func() {
		defer optWG.Done()
		o, err := Open(ctx, store, TableOptions{CheckpointInterval: -1, RetryBackoff: time.Millisecond, MaxCommitAttempts: 200})
		if err != nil {
			errs <- err
			return
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := Optimize(ctx, o, OptimizeOptions{TargetSize: 1 << 20, Compression: "snappy"})
			if err != nil {
				errs <- err
				return
			}
			if res.Version >= 0 {
				compactions++
			}
		}
	}()
	wg.Wait()
	close(stop)
	optWG.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Greater(t, compactions, 0)

	snap, err := Load(ctx, store)
	require.NoError(t, err)
	got := map[int64]int{}
	for _, rows := range readTable(t, store, snap) {
		for _, id := range rows.ids {
			got[id]++
		}
	}
	require.Equal(t, len(want), len(got), "every row present once")
	for id, n := range got {
		require.True(t, want[id], "unexpected row %d", id)
		require.Equal(t, 1, n, "row %d duplicated", id)
	}
}
