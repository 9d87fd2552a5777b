package delta

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

const baseSchema = `{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"day","type":"string","nullable":true,"metadata":{}}]}`

func testCreate(t *testing.T, store objstore.Store, parts []string, opts TableOptions) *Table {
	t.Helper()
	tbl, err := Create(context.Background(), store, CreateOptions{Schema: mustSchema(t, baseSchema), PartitionColumns: parts}, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tbl.Close(context.Background()) })
	return tbl
}

func newAdd(part string) Add {
	a := Add{Path: "part-" + uuid.NewString() + ".parquet", Size: 100, ModificationTime: 1, DataChange: true,
		Stats: `{"numRecords":1}`, PartitionValues: map[string]*string{}}
	if part != "" {
		a.PartitionValues["day"] = sp(part)
		a.Path = EncodePath("day="+part+"/") + a.Path
	}
	return a
}

func TestCreateAppendLoad(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	tbl := testCreate(t, store, []string{"day"}, TableOptions{EngineInfo: "danube-connect/test", CheckpointInterval: -1})
	assert.Equal(t, int64(0), tbl.Version())
	assert.Equal(t, DefaultProtocol(), tbl.Protocol())

	v0, err := ReadCommit(ctx, store, 0)
	require.NoError(t, err)
	require.NotNil(t, v0.CommitInfo())
	assert.Equal(t, "CREATE TABLE", v0.CommitInfo().Operation)

	_, err = Create(ctx, store, CreateOptions{Schema: mustSchema(t, baseSchema)}, TableOptions{})
	assert.ErrorIs(t, err, ErrTableExists)

	tx := tbl.NewTransaction()
	a := newAdd("a b")
	tx.Adds = []Add{a}
	tx.SetTxn("app-1", 5)
	tx.CommitInfoExtra = map[string]any{"danubeOffsets": map[string]any{"t-0": [][]int64{{0, 4}}}}
	res, err := tbl.Commit(ctx, tx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), res.Version)
	assert.Equal(t, 1, res.Attempts)
	assert.Empty(t, res.Winners)

	c1, err := ReadCommit(ctx, store, 1)
	require.NoError(t, err)
	ci := c1.CommitInfo()
	require.NotNil(t, ci)
	assert.Equal(t, "WRITE", ci.Operation)
	assert.Equal(t, int64(0), *ci.ReadVersion)
	assert.True(t, *ci.IsBlindAppend)
	assert.Equal(t, "danube-connect/test", ci.EngineInfo)
	assert.JSONEq(t, `{"t-0":[[0,4]]}`, string(ci.Extra["danubeOffsets"]))
	assert.Equal(t, "1", ci.OperationMetrics["numFiles"])
	assert.Equal(t, map[string]any{"mode": "Append", "partitionBy": `["day"]`}, ci.OperationParameters)

	snap, err := Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, int64(1), snap.Version())
	require.Len(t, snap.Files(), 1)
	assert.Equal(t, a.Path, snap.Files()[0].Path)
	got, ok := snap.File("day=a b/" + a.Path[len("day=a%20b/"):])
	require.True(t, ok, "files are keyed by decoded path")
	assert.Equal(t, "a b", *got.PartitionValues["day"])
	txn, ok := snap.Txn("app-1")
	require.True(t, ok)
	assert.Equal(t, int64(5), txn.Version)
	assert.NotNil(t, txn.LastUpdated)
	assert.Equal(t, []string{"day"}, snap.PartitionColumns())
	assert.Contains(t, snap.CommitTimestamps(), int64(1))

	// Committing the same appId/version again is a typed duplicate.
	tx = tbl.NewTransaction()
	tx.Adds = []Add{newAdd("x")}
	tx.SetTxn("app-1", 5)
	_, err = tbl.Commit(ctx, tx)
	assert.ErrorIs(t, err, ErrDuplicateTransaction)
	var tce *TransactionConflictError
	require.ErrorAs(t, err, &tce)
	assert.Equal(t, "app-1", tce.AppID)
	assert.Equal(t, int64(1), tbl.Version(), "nothing committed")

	// Time travel.
	old, err := LoadVersion(ctx, store, 0)
	require.NoError(t, err)
	assert.Equal(t, 0, old.NumFiles())
	_, err = LoadVersion(ctx, store, 7)
	assert.Error(t, err)

	_, err = Load(ctx, newMemStore())
	assert.ErrorIs(t, err, ErrTableNotFound)
}

func TestTwoTablesSameStoreConflictAndRetry(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	a := testCreate(t, store, nil, TableOptions{CheckpointInterval: -1})
	b, err := Open(ctx, store, TableOptions{CheckpointInterval: -1, RetryBackoff: time.Millisecond})
	require.NoError(t, err)

	txA := a.NewTransaction()
	txA.Adds = []Add{newAdd("")}
	txA.SetTxn("writer-a", 1)
	_, err = a.Commit(ctx, txA)
	require.NoError(t, err)

	// b still believes the table is at version 0: its first put loses.
	var seen []*CommitEntry
	txB := b.NewTransaction()
	txB.Adds = []Add{newAdd("")}
	txB.SetTxn("writer-b", 1)
	txB.OnConflict = func(w []*CommitEntry) error { seen = append(seen, w...); return nil }
	res, err := b.Commit(ctx, txB)
	require.NoError(t, err)
	assert.Equal(t, int64(2), res.Version)
	assert.Equal(t, 2, res.Attempts)
	require.Len(t, res.Winners, 1)
	assert.Equal(t, int64(1), res.Winners[0].Version)
	assert.Equal(t, "writer-a", res.Winners[0].Txns()[0].AppID)
	assert.Equal(t, res.Winners, seen)

	// The hook can veto.
	txA = a.NewTransaction()
	txA.Adds = []Add{newAdd("")}
	veto := errors.New("offsets already committed by b")
	txA.OnConflict = func([]*CommitEntry) error { return veto }
	_, err = a.Commit(ctx, txA)
	assert.ErrorIs(t, err, veto)

	// Same appId committed concurrently by another writer with a lower version.
	txA = a.NewTransaction()
	txA.Adds = []Add{newAdd("")}
	txA.SetTxn("shared", 10)
	txB = b.NewTransaction()
	txB.Adds = []Add{newAdd("")}
	txB.SetTxn("shared", 9)
	_, err = b.Commit(ctx, txB)
	require.NoError(t, err)
	_, err = a.Commit(ctx, txA)
	assert.ErrorIs(t, err, ErrConcurrentTransaction)
}

func TestAmbiguousPutFailureIsRecognisedByTxnID(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	tbl := testCreate(t, store, nil, TableOptions{CheckpointInterval: -1, RetryBackoff: time.Millisecond})
	failed := false
	store.failPut = func(key string) (bool, error) {
		if !failed && key == CommitKey(1) {
			failed = true
			return true, errors.New("connection reset after upload") // landed anyway
		}
		return false, nil
	}
	tx := tbl.NewTransaction()
	tx.Adds = []Add{newAdd("")}
	res, err := tbl.Commit(ctx, tx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), res.Version)
	assert.Equal(t, 2, res.Attempts)
	assert.Empty(t, res.Winners)
	assert.Len(t, store.keys(LogDir), 2, "no second commit for the same transaction")

	// Persistent non-conflict failures give up after MaxCommitAttempts.
	store.failPut = func(string) (bool, error) { return false, errors.New("outage") }
	tbl2, err := Open(ctx, store, TableOptions{MaxCommitAttempts: 3, RetryBackoff: time.Millisecond, CheckpointInterval: -1})
	require.NoError(t, err)
	tx = tbl2.NewTransaction()
	tx.Adds = []Add{newAdd("")}
	_, err = tbl2.Commit(ctx, tx)
	assert.ErrorIs(t, err, ErrTooManyCommitAttempts)
	assert.Contains(t, err.Error(), "outage")
}

func TestListOutageWhileResolvingConflictIsRetried(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	a := testCreate(t, store, nil, TableOptions{CheckpointInterval: -1})
	b, err := Open(ctx, store, TableOptions{CheckpointInterval: -1, RetryBackoff: time.Millisecond})
	require.NoError(t, err)
	appendN(t, a, "a", 2)
	failures := 2
	store.failList = func() error {
		if failures > 0 {
			failures--
			return errors.New("503 slow down")
		}
		return nil
	}
	tx := b.NewTransaction()
	tx.Adds = []Add{newAdd("")}
	res, err := b.Commit(ctx, tx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), res.Version)
	assert.Len(t, res.Winners, 2)
	assert.Equal(t, 4, res.Attempts)
}

func TestConcurrentMetadataChange(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	a := testCreate(t, store, nil, TableOptions{CheckpointInterval: -1})
	b, err := Open(ctx, store, TableOptions{CheckpointInterval: -1, RetryBackoff: time.Millisecond})
	require.NoError(t, err)

	// a evolves the schema (adds a column).
	evolved := mustSchema(t, `{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"extra","type":"string","nullable":true,"metadata":{}}]}`)
	txA := a.NewTransaction()
	txA.SetSchema(evolved)
	txA.Adds = []Add{newAdd("")}
	res, err := a.Commit(ctx, txA)
	require.NoError(t, err)
	assert.True(t, res.SchemaChanged)
	assert.Equal(t, "struct<id:long,day:string,extra:string>", FormatType(a.Schema()))

	// b appends with the old schema: compatible, rebased without a metaData.
	txB := b.NewTransaction()
	txB.Adds = []Add{newAdd("")}
	res, err = b.Commit(ctx, txB)
	require.NoError(t, err)
	assert.False(t, res.SchemaChanged)
	c, err := ReadCommit(ctx, store, res.Version)
	require.NoError(t, err)
	assert.False(t, hasMetadata(c))

	// b evolves concurrently with a different column: merged on top of a's schema.
	txB = b.NewTransaction()
	txB.SetSchema(mustSchema(t, `{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"other","type":"double","nullable":true,"metadata":{}}]}`))
	txB.Adds = []Add{newAdd("")}
	txA = a.NewTransaction()
	txA.SetSchema(mustSchema(t, `{"type":"struct","fields":[{"name":"third","type":"boolean","nullable":true,"metadata":{}}]}`))
	txA.Adds = []Add{newAdd("")}
	_, err = a.Commit(ctx, txA)
	require.NoError(t, err)
	res, err = b.Commit(ctx, txB)
	require.NoError(t, err)
	assert.True(t, res.SchemaChanged)
	snap, err := Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, "struct<id:long,day:string,extra:string,third:boolean,other:double>", FormatType(snap.Schema()))

	// A concurrent incompatible change fails with a typed error naming the column.
	txB = b.NewTransaction()
	txB.SetSchema(mustSchema(t, `{"type":"struct","fields":[{"name":"late","type":"long","nullable":true,"metadata":{}}]}`))
	txB.Adds = []Add{newAdd("")}
	txA = a.NewTransaction()
	txA.SetSchema(mustSchema(t, `{"type":"struct","fields":[{"name":"late","type":"string","nullable":true,"metadata":{}}]}`))
	txA.Adds = []Add{newAdd("")}
	_, err = a.Commit(ctx, txA)
	require.NoError(t, err)
	_, err = b.Commit(ctx, txB)
	assert.ErrorIs(t, err, ErrMetadataChanged)
	var sce *SchemaConflictError
	require.ErrorAs(t, err, &sce)
	assert.Equal(t, "late", sce.Column)
}

func TestConcurrentWritersGoroutines(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	testCreate(t, store, nil, TableOptions{CheckpointInterval: -1})
	const writers, commits = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tbl, err := Open(ctx, store, TableOptions{CheckpointInterval: 5, RetryBackoff: time.Millisecond, MaxCommitAttempts: 100})
			if err != nil {
				errs <- err
				return
			}
			defer tbl.Close(ctx)
			for i := 1; i <= commits; i++ {
				tx := tbl.NewTransaction()
				tx.Adds = []Add{newAdd("")}
				tx.SetTxn(fmt.Sprintf("w%d", w), int64(i))
				if _, err := tbl.Commit(ctx, tx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	snap, err := Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, int64(writers*commits), snap.Version())
	assert.Equal(t, writers*commits, snap.NumFiles())
	for w := 0; w < writers; w++ {
		txn, ok := snap.Txn(fmt.Sprintf("w%d", w))
		require.True(t, ok)
		assert.Equal(t, int64(commits), txn.Version)
	}
}

func TestConcurrentCreate(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	const n = 4
	var wg sync.WaitGroup
	created := make(chan bool, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tbl, c, err := OpenOrCreate(ctx, store, CreateOptions{Schema: mustSchema(t, baseSchema), PartitionColumns: []string{"day"}},
				TableOptions{RetryBackoff: time.Millisecond, MaxCommitAttempts: 50})
			if err != nil {
				errs <- err
				return
			}
			created <- c
			tx := tbl.NewTransaction()
			tx.Adds = []Add{newAdd("d")}
			if _, err := tbl.Commit(ctx, tx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(created)
	for err := range errs {
		require.NoError(t, err)
	}
	winners := 0
	for c := range created {
		if c {
			winners++
		}
	}
	assert.Equal(t, 1, winners, "exactly one writer creates version 0")
	snap, err := Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, int64(n), snap.Version())
	assert.Equal(t, n, snap.NumFiles())

	// Opening with different partitioning or an incompatible schema fails.
	_, _, err = OpenOrCreate(ctx, store, CreateOptions{Schema: mustSchema(t, baseSchema)}, TableOptions{})
	assert.ErrorIs(t, err, ErrTableExists)
	_, _, err = OpenOrCreate(ctx, store, CreateOptions{Schema: mustSchema(t, `{"type":"struct","fields":[{"name":"id","type":"string","nullable":true,"metadata":{}},{"name":"day","type":"string","nullable":true,"metadata":{}}]}`), PartitionColumns: []string{"day"}}, TableOptions{})
	var sce *SchemaConflictError
	assert.ErrorAs(t, err, &sce)
}

func TestCreateValidation(t *testing.T) {
	ctx := context.Background()
	_, err := Create(ctx, newMemStore(), CreateOptions{Schema: mustSchema(t, baseSchema), PartitionColumns: []string{"nope"}}, TableOptions{})
	assert.ErrorContains(t, err, `"nope"`)
	dup := &StructType{Fields: []*StructField{{Name: "a", Type: &PrimitiveType{Name: TypeLong}}, {Name: "A", Type: &PrimitiveType{Name: TypeLong}}}}
	_, err = Create(ctx, newMemStore(), CreateOptions{Schema: dup}, TableOptions{})
	assert.ErrorContains(t, err, "twice")

	// timestamp_ntz needs reader 3 / writer 7 with the feature.
	tbl, err := Create(ctx, newMemStore(), CreateOptions{Schema: mustSchema(t, `{"type":"struct","fields":[{"name":"t","type":"timestamp_ntz","nullable":true,"metadata":{}}]}`)}, TableOptions{})
	require.NoError(t, err)
	p := tbl.Protocol()
	assert.Equal(t, 3, p.MinReaderVersion)
	assert.Equal(t, []string{"timestampNtz"}, p.WriterFeatures)
}

func TestAppendOnlyAndConcurrentDelete(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	tbl, err := Create(ctx, store, CreateOptions{Schema: mustSchema(t, baseSchema), Configuration: map[string]string{ConfigAppendOnly: "true"}}, TableOptions{CheckpointInterval: -1})
	require.NoError(t, err)
	a := newAdd("")
	tx := tbl.NewTransaction()
	tx.Adds = []Add{a}
	_, err = tbl.Commit(ctx, tx)
	require.NoError(t, err)

	tx = tbl.NewTransaction()
	tx.Removes = []Remove{{Path: a.Path, DataChange: true}}
	_, err = tbl.Commit(ctx, tx)
	assert.ErrorIs(t, err, ErrAppendOnly)

	// dataChange=false removes (compaction) are allowed on append-only tables,
	// but only once per file.
	tx1 := tbl.NewTransaction()
	tx1.Removes = []Remove{{Path: a.Path}}
	tx2 := tbl.NewTransaction()
	tx2.Removes = []Remove{{Path: a.Path}}
	_, err = tbl.Commit(ctx, tx1)
	require.NoError(t, err)
	_, err = tbl.Commit(ctx, tx2)
	assert.ErrorIs(t, err, ErrConcurrentDeleteDelete)
}

func TestDefaultEngineInfo(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	_, err := Create(ctx, store, CreateOptions{Schema: mustSchema(t, baseSchema)}, TableOptions{})
	require.NoError(t, err)
	c, err := ReadCommit(ctx, store, 0)
	require.NoError(t, err)
	assert.Regexp(t, `^danube-connect/\S+$`, c.CommitInfo().EngineInfo)
	assert.Nil(t, c.CommitInfo().ReadVersion, "no readVersion in CREATE TABLE (delta-rs parses it unsigned)")
}
