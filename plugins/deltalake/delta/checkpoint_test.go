package delta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appendN commits n single-file appends, each with txn (app, i).
func appendN(t *testing.T, tbl *Table, app string, n int) []Add {
	t.Helper()
	var adds []Add
	for i := 0; i < n; i++ {
		tx := tbl.NewTransaction()
		a := newAdd("")
		tx.Adds = []Add{a}
		tx.SetTxn(app, int64(i+1))
		_, err := tbl.Commit(context.Background(), tx)
		require.NoError(t, err)
		adds = append(adds, a)
	}
	return adds
}

func snapshotsEqual(t *testing.T, want, got *Snapshot) {
	t.Helper()
	assert.Equal(t, want.Version(), got.Version())
	assert.Equal(t, want.Protocol(), got.Protocol())
	assert.Equal(t, want.Metadata().ID, got.Metadata().ID)
	assert.Equal(t, want.Metadata().SchemaString, got.Metadata().SchemaString)
	assert.Equal(t, want.Metadata().Configuration, got.Metadata().Configuration)
	assert.Equal(t, want.Metadata().PartitionColumns, got.Metadata().PartitionColumns)
	wf, gf := want.Files(), got.Files()
	require.Equal(t, len(wf), len(gf))
	for i := range wf {
		assert.Equal(t, wf[i].Path, gf[i].Path)
		assert.Equal(t, wf[i].Size, gf[i].Size)
		assert.Equal(t, wf[i].Stats, gf[i].Stats)
		assert.Equal(t, wf[i].PartitionValues, gf[i].PartitionValues)
	}
	wt, gt := want.Txns(), got.Txns()
	require.Equal(t, len(wt), len(gt))
	for k, v := range wt {
		assert.Equal(t, v.Version, gt[k].Version, k)
	}
}

func TestCheckpointWriteAndLoadWithoutOldCommits(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	tbl := testCreate(t, store, []string{"day"}, TableOptions{CheckpointInterval: -1})
	for i := 0; i < 12; i++ {
		tx := tbl.NewTransaction()
		part := fmt.Sprintf("d%d", i%3)
		a := newAdd(part)
		if i == 5 {
			a.PartitionValues["day"] = nil // null partition value survives
		}
		tx.Adds = []Add{a}
		tx.SetTxn(fmt.Sprintf("app-%d", i%2), int64(i))
		if i == 7 {
			tx.Removes = []Remove{{Path: tbl.Snapshot().Files()[0].Path, ExtendedFileMetadata: ptr(true), Size: ptr(int64(100))}}
		}
		_, err := tbl.Commit(ctx, tx)
		require.NoError(t, err)
	}
	require.Equal(t, int64(12), tbl.Version())
	want := tbl.Snapshot()

	lc, err := tbl.Checkpoint(ctx, 12)
	require.NoError(t, err)
	assert.Equal(t, int64(12), lc.Version)
	// protocol + metaData + 2 txns + 11 live files + 1 tombstone
	assert.Equal(t, int64(16), lc.Size)
	assert.Equal(t, int64(11), lc.NumOfAddFiles)
	assert.Greater(t, lc.SizeInBytes, int64(0))
	hint, err := store.Get(ctx, LastCheckpointKey)
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(hint, &raw))
	assert.EqualValues(t, 12, raw["version"])
	assert.EqualValues(t, 16, raw["size"])

	// The checkpoint has the V1 layout readers expect.
	data, err := store.Get(ctx, CheckpointKey(12))
	require.NoError(t, err)
	pr, err := file.NewParquetReader(bytes.NewReader(data))
	require.NoError(t, err)
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	require.NoError(t, err)
	sc, err := fr.Schema()
	require.NoError(t, err)
	for _, col := range []string{"txn", "add", "remove", "metaData", "protocol"} {
		assert.NotEmpty(t, sc.FieldIndices(col), col)
	}
	addType := sc.Field(sc.FieldIndices("add")[0]).Type.(*arrow.StructType)
	st, ok := addType.FieldByName("stats")
	require.True(t, ok)
	assert.Equal(t, arrow.STRING, st.Type.ID(), "stats is a JSON string")
	pr.Close()

	// Delete every JSON commit up to the checkpoint: loading still works.
	for v := int64(0); v <= 12; v++ {
		require.NoError(t, store.Delete(ctx, CommitKey(v)))
	}
	got, err := Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, int64(12), got.CheckpointVersion())
	snapshotsEqual(t, want, got)
	require.Len(t, got.Tombstones(), 1)
	assert.True(t, *got.Tombstones()[0].ExtendedFileMetadata)

	// Appends continue on top of the checkpoint; loading replays them.
	tbl2, err := Open(ctx, store, TableOptions{CheckpointInterval: -1})
	require.NoError(t, err)
	appendN(t, tbl2, "after", 3)
	got, err = Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, int64(15), got.Version())
	assert.Equal(t, 14, got.NumFiles())

	// Missing or corrupt _last_checkpoint: fall back to listing.
	for _, hintData := range [][]byte{nil, []byte(`{"version":1`), []byte(`{"version":99,"size":3}`), []byte(`{"size":3}`)} {
		if hintData == nil {
			require.NoError(t, store.Delete(ctx, LastCheckpointKey))
		} else {
			require.NoError(t, store.Put(ctx, LastCheckpointKey, hintData))
		}
		got, err = Load(ctx, store)
		require.NoError(t, err, string(hintData))
		assert.Equal(t, int64(15), got.Version())
		assert.Equal(t, 14, got.NumFiles())
	}
}

func TestCheckpointExpiresTombstonesAndSkipsStructStats(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	now := time.Now()
	clock := func() time.Time { return now }
	tbl, err := Create(ctx, store, CreateOptions{Schema: mustSchema(t, baseSchema),
		Configuration: map[string]string{ConfigDeletedFileRetention: "interval 1 day"}},
		TableOptions{CheckpointInterval: -1, Now: clock})
	require.NoError(t, err)
	adds := appendN(t, tbl, "a", 2)
	tx := tbl.NewTransaction()
	old := now.Add(-48 * time.Hour).UnixMilli()
	tx.Removes = []Remove{{Path: adds[0].Path, DeletionTimestamp: &old}, {Path: adds[1].Path}}
	_, err = tbl.Commit(ctx, tx)
	require.NoError(t, err)
	_, err = tbl.Checkpoint(ctx, tbl.Version())
	require.NoError(t, err)
	for v := int64(0); v <= tbl.Version(); v++ {
		require.NoError(t, store.Delete(ctx, CommitKey(v)))
	}
	got, err := Load(ctx, store)
	require.NoError(t, err)
	require.Len(t, got.Tombstones(), 1, "the 2-day-old tombstone expired")
	assert.Equal(t, adds[1].Path, got.Tombstones()[0].Path)

	store2 := newMemStore()
	tbl2, err := Create(ctx, store2, CreateOptions{Schema: mustSchema(t, baseSchema),
		Configuration: map[string]string{ConfigCheckpointStatsAsStruct: "true"}}, TableOptions{CheckpointInterval: -1})
	require.NoError(t, err)
	_, err = tbl2.Checkpoint(ctx, 0)
	assert.ErrorIs(t, err, ErrCheckpointSkipped)
	assert.ErrorContains(t, err, ConfigCheckpointStatsAsStruct)
	assert.Empty(t, store2.keys(LastCheckpointKey))
}

func TestAutomaticCheckpointsFollowInterval(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	done := make(chan int64, 16)
	tbl, err := Create(ctx, store, CreateOptions{Schema: mustSchema(t, baseSchema),
		Configuration: map[string]string{ConfigCheckpointInterval: "4"}},
		TableOptions{OnCheckpoint: func(v int64, err error) {
			if err != nil {
				t.Errorf("checkpoint %d: %v", v, err)
			}
			done <- v
		}})
	require.NoError(t, err)
	appendN(t, tbl, "a", 9)
	require.NoError(t, tbl.Close(ctx))
	close(done)
	var got []int64
	for v := range done {
		got = append(got, v)
	}
	// Versions 4 and 8 are due; if 4 was still running when 8 became due,
	// only 8 is written.
	require.NotEmpty(t, got)
	assert.Equal(t, int64(8), got[len(got)-1])
	_, err = store.Get(ctx, CheckpointKey(8))
	require.NoError(t, err)
	lc, err := readLastCheckpoint(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, int64(8), lc.Version)
	assert.True(t, CheckpointDue(10, 10))
	assert.False(t, CheckpointDue(0, 10))
	assert.False(t, CheckpointDue(11, 10))
}

// TestReadForeignCheckpointLayout writes a checkpoint shaped like delta-rs's
// (protocol feature lists, int32 versions, add.deletionVector and
// stats_parsed columns, no remove column, no stored Arrow schema) and loads it.
func TestReadForeignCheckpointLayout(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	str, i64, i32 := arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32
	schema := arrow.NewSchema([]arrow.Field{
		nullable("protocol", arrow.StructOf(nullable("minReaderVersion", i32), nullable("minWriterVersion", i32),
			nullable("readerFeatures", strListType), nullable("writerFeatures", strListType))),
		nullable("metaData", arrow.StructOf(nullable("id", str), nullable("schemaString", str),
			nullable("partitionColumns", strListType), nullable("configuration", strMapType), nullable("createdTime", i64),
			nullable("format", arrow.StructOf(nullable("provider", str), nullable("options", strMapType))))),
		nullable("add", arrow.StructOf(nullable("path", str), nullable("size", i64), nullable("modificationTime", i64),
			nullable("dataChange", arrow.FixedWidthTypes.Boolean), nullable("partitionValues", strMapType), nullable("stats", str),
			nullable("stats_parsed", arrow.StructOf(nullable("numRecords", i64))),
			nullable("deletionVector", arrow.StructOf(nullable("storageType", str))))),
		nullable("txn", arrow.StructOf(nullable("appId", str), nullable("version", i64))),
	}, nil)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	row := func(col int) *array.StructBuilder {
		for c := range schema.Fields() {
			if c != col {
				rb.Field(c).(*array.StructBuilder).AppendNull()
			}
		}
		b := rb.Field(col).(*array.StructBuilder)
		b.Append(true)
		return b
	}
	b := row(0)
	b.FieldBuilder(0).(*array.Int32Builder).Append(3)
	b.FieldBuilder(1).(*array.Int32Builder).Append(7)
	appendStrList(b.FieldBuilder(2), []string{"timestampNtz"}, false)
	appendStrList(b.FieldBuilder(3), []string{"timestampNtz", "appendOnly"}, false)
	b = row(1)
	appendStr(b.FieldBuilder(0), "table-id", false)
	appendStr(b.FieldBuilder(1), baseSchema, false)
	appendStrList(b.FieldBuilder(2), []string{}, false)
	appendPlainMap(b.FieldBuilder(3), map[string]string{"delta.appendOnly": "false"})
	appendI64(b.FieldBuilder(4), ptr(int64(123)))
	fb := b.FieldBuilder(5).(*array.StructBuilder)
	fb.Append(true)
	appendStr(fb.FieldBuilder(0), "parquet", false)
	appendPlainMap(fb.FieldBuilder(1), map[string]string{})
	for i := 0; i < 3; i++ {
		b = row(2)
		appendStr(b.FieldBuilder(0), fmt.Sprintf("part-%d.parquet", i), false)
		appendI64(b.FieldBuilder(1), ptr(int64(10+i)))
		appendI64(b.FieldBuilder(2), ptr(int64(1)))
		appendBool(b.FieldBuilder(3), ptr(false))
		appendStrMap(b.FieldBuilder(4), map[string]*string{})
		appendStr(b.FieldBuilder(5), `{"numRecords":1}`, false)
		sb := b.FieldBuilder(6).(*array.StructBuilder)
		sb.Append(true)
		sb.FieldBuilder(0).(*array.Int64Builder).Append(1)
		b.FieldBuilder(7).(*array.StructBuilder).AppendNull()
	}
	b = row(3)
	appendStr(b.FieldBuilder(0), "rs-app", false)
	appendI64(b.FieldBuilder(1), ptr(int64(42)))
	rec := rb.NewRecordBatch()
	defer rec.Release()

	var buf bytes.Buffer
	fw, err := pqarrow.NewFileWriter(schema, &buf, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	require.NoError(t, err)
	require.NoError(t, fw.Write(rec))
	require.NoError(t, fw.Close())
	require.NoError(t, store.Put(ctx, CheckpointKey(4), buf.Bytes()))
	require.NoError(t, store.Put(ctx, LastCheckpointKey, []byte(`{"version":4,"size":6}`)))
	require.NoError(t, store.Put(ctx, CommitKey(5), []byte(`{"commitInfo":{"timestamp":5,"operation":"WRITE"}}
{"add":{"path":"part-9.parquet","partitionValues":{},"size":9,"modificationTime":5,"dataChange":true}}
`)))

	snap, err := Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, int64(5), snap.Version())
	assert.Equal(t, 3, snap.Protocol().MinReaderVersion)
	assert.Equal(t, []string{"timestampNtz", "appendOnly"}, snap.Protocol().WriterFeatures)
	assert.Equal(t, "table-id", snap.Metadata().ID)
	assert.Equal(t, 4, snap.NumFiles())
	txn, ok := snap.Txn("rs-app")
	require.True(t, ok)
	assert.Equal(t, int64(42), txn.Version)
	a, ok := snap.File("part-2.parquet")
	require.True(t, ok)
	assert.Equal(t, int64(12), a.Size)
	assert.Nil(t, a.DeletionVector)

	// We can append to it and write our own checkpoint on top.
	tbl, err := Open(ctx, store, TableOptions{CheckpointInterval: -1})
	require.NoError(t, err)
	appendN(t, tbl, "ours", 1)
	_, err = tbl.Checkpoint(ctx, 6)
	require.NoError(t, err)
	require.NoError(t, store.Delete(ctx, CheckpointKey(4)))
	again, err := Load(ctx, store)
	require.NoError(t, err)
	snapshotsEqual(t, tbl.Snapshot(), again)
	assert.Equal(t, []string{"timestampNtz"}, again.Protocol().ReaderFeatures)
}

func TestCorruptCheckpointFallsBackToFullLog(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	tbl := testCreate(t, store, nil, TableOptions{CheckpointInterval: -1})
	appendN(t, tbl, "a", 3)
	require.NoError(t, store.Put(ctx, CheckpointKey(2), []byte("not parquet")))
	require.NoError(t, store.Put(ctx, LastCheckpointKey, []byte(`{"version":2,"size":4}`)))
	snap, err := Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, int64(3), snap.Version())
	assert.Equal(t, 3, snap.NumFiles())

	// Without the JSON commits a corrupt checkpoint is an error naming it.
	require.NoError(t, store.Delete(ctx, CommitKey(0)))
	_, err = Load(ctx, store)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "checkpoint 2")

	// A gap in the log is an error too.
	store2 := newMemStore()
	tbl2 := testCreate(t, store2, nil, TableOptions{CheckpointInterval: -1})
	appendN(t, tbl2, "a", 3)
	require.NoError(t, store2.Delete(ctx, CommitKey(2)))
	_, err = Load(ctx, store2)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "commit 2 is missing")
	assert.False(t, errors.Is(err, ErrTableNotFound))
}

func TestParseInterval(t *testing.T) {
	cases := map[string]time.Duration{
		"interval 1 week":             7 * 24 * time.Hour,
		"interval 7 days":             7 * 24 * time.Hour,
		"30 days":                     30 * 24 * time.Hour,
		"interval 2 hours 30 minutes": 150 * time.Minute,
		"INTERVAL 1 SECOND":           time.Second,
	}
	for in, want := range cases {
		got, err := ParseInterval(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "interval", "1 fortnight", "x days"} {
		_, err := ParseInterval(bad)
		assert.Error(t, err, bad)
	}
}

func TestDomainMetadataPreservedThroughCheckpoint(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	tbl := testCreate(t, store, nil, TableOptions{CheckpointInterval: -1})
	require.NoError(t, store.Put(ctx, CommitKey(1), []byte(
		`{"commitInfo":{"timestamp":1,"operation":"WRITE"}}
{"domainMetadata":{"domain":"delta.clustering","configuration":"{\"clusteringColumns\":[]}","removed":false}}
{"domainMetadata":{"domain":"app.x","configuration":"{}","removed":false}}
`)))
	require.NoError(t, store.Put(ctx, CommitKey(2), []byte(
		`{"commitInfo":{"timestamp":2,"operation":"WRITE"}}
{"domainMetadata":{"domain":"app.x","configuration":"{}","removed":true}}
`)))
	_, err := tbl.Update(ctx)
	require.NoError(t, err)
	_, err = tbl.Checkpoint(ctx, 2)
	require.NoError(t, err)
	for v := int64(0); v <= 2; v++ {
		require.NoError(t, store.Delete(ctx, CommitKey(v)))
	}
	snap, err := Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, []DomainMetadata{{Domain: "delta.clustering", Configuration: `{"clusteringColumns":[]}`}}, snap.DomainMetadata())
}

// Older Spark writes multi-part checkpoints (n.checkpoint.o.p.parquet); they
// are read when complete and ignored when a part is missing.
func TestReadMultiPartCheckpoint(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	tbl := testCreate(t, store, nil, TableOptions{CheckpointInterval: -1})
	appendN(t, tbl, "a", 6)
	full := tbl.Snapshot()
	files := full.Files()
	for part := 1; part <= 2; part++ {
		half := full.Clone()
		for i, f := range files {
			if (i%2 == 0) != (part == 1) {
				delete(half.files, FileKey(f.Path))
			}
		}
		var buf bytes.Buffer
		_, err := writeCheckpointTo(&countingWriter{w: &buf}, half, 0)
		require.NoError(t, err)
		key := fmt.Sprintf("%s%020d.checkpoint.%010d.%010d.parquet", LogDir, 6, part, 2)
		require.NoError(t, store.Put(ctx, key, buf.Bytes()))
	}
	require.NoError(t, store.Put(ctx, LastCheckpointKey, []byte(`{"version":6,"size":12,"parts":2}`)))
	for v := int64(0); v <= 6; v++ {
		require.NoError(t, store.Delete(ctx, CommitKey(v)))
	}
	appendN(t, tbl, "b", 1)
	got, err := Load(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, int64(6), got.CheckpointVersion())
	assert.Equal(t, int64(7), got.Version())
	assert.Equal(t, 7, got.NumFiles())

	// A missing part makes the checkpoint unusable: with the commits gone
	// the table cannot be loaded, and the error says what is missing.
	require.NoError(t, store.Delete(ctx, fmt.Sprintf("%s%020d.checkpoint.%010d.%010d.parquet", LogDir, 6, 2, 2)))
	_, err = Load(ctx, store)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing")
}

// The streaming checkpoint (previous checkpoint + JSON tail, used by tables
// opened WithoutFiles) has exactly the rows of one written from a full snapshot.
func TestStreamingCheckpointMatchesFullSnapshot(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	now := time.Now()
	tbl, err := Create(ctx, store, CreateOptions{Schema: mustSchema(t, baseSchema),
		Configuration: map[string]string{ConfigDeletedFileRetention: "interval 1 day"}},
		TableOptions{CheckpointInterval: -1, WithoutFiles: true, Now: func() time.Time { return now }})
	require.NoError(t, err)
	adds := appendN(t, tbl, "a", 6)
	old := now.Add(-48 * time.Hour).UnixMilli()
	tx := tbl.NewTransaction()
	halfDay := now.Add(-12 * time.Hour).UnixMilli()
	tx.Removes = []Remove{{Path: adds[0].Path, DeletionTimestamp: &old}, {Path: adds[1].Path}, {Path: adds[3].Path, DeletionTimestamp: &halfDay}}
	_, err = tbl.Commit(ctx, tx)
	require.NoError(t, err)
	_, err = tbl.Checkpoint(ctx, tbl.Version()) // no previous checkpoint: full path
	require.NoError(t, err)
	assert.Contains(t, readCheckpointRows(t, store, tbl.Version()), "remove "+adds[3].Path)
	now = now.Add(24 * time.Hour) // adds[3]'s tombstone expires before the next checkpoint

	// Tail: new files, a removal of a checkpointed file, a re-add of a
	// tombstoned path, a txn update and a schema change.
	more := appendN(t, tbl, "b", 3)
	tx = tbl.NewTransaction()
	tx.Removes = []Remove{{Path: adds[2].Path}, {Path: more[0].Path}}
	tx.Adds = []Add{adds[1]}
	tx.SetTxn("a", 99)
	tx.SetSchema(mustSchema(t, `{"type":"struct","fields":[{"name":"z","type":"string","nullable":true,"metadata":{}}]}`))
	_, err = tbl.Commit(ctx, tx)
	require.NoError(t, err)
	v := tbl.Version()

	_, err = tbl.Checkpoint(ctx, v) // streaming path
	require.NoError(t, err)
	streamed := readCheckpointRows(t, store, v)
	full, err := LoadVersion(ctx, store, v)
	require.NoError(t, err)
	_, err = WriteCheckpoint(ctx, store, full, CheckpointOptions{Now: func() time.Time { return now }})
	require.NoError(t, err)
	assert.Equal(t, readCheckpointRows(t, store, v), streamed)
	assert.Contains(t, streamed, "add "+adds[1].Path, "re-added path is live")
	assert.Contains(t, streamed, "remove "+adds[2].Path)
	assert.NotContains(t, streamed, "remove "+adds[0].Path, "expired tombstone dropped")
	assert.NotContains(t, streamed, "remove "+adds[3].Path, "tombstone from the previous checkpoint expired")
	assert.Contains(t, streamed, "txn a 99")
}

// readCheckpointRows renders a checkpoint's rows as sorted strings.
func readCheckpointRows(t *testing.T, store *memStore, version int64) []string {
	t.Helper()
	var rows []string
	err := readCheckpoint(context.Background(), store, CheckpointKey(version), true, func(a *Action) error {
		switch {
		case a.Add != nil:
			rows = append(rows, "add "+a.Add.Path, fmt.Sprintf("addmeta %s %d %s", a.Add.Path, a.Add.Size, a.Add.Stats))
		case a.Remove != nil:
			rows = append(rows, "remove "+a.Remove.Path)
		case a.Txn != nil:
			rows = append(rows, fmt.Sprintf("txn %s %d", a.Txn.AppID, a.Txn.Version))
		case a.Metadata != nil:
			rows = append(rows, "metadata "+a.Metadata.SchemaString)
		case a.Protocol != nil:
			rows = append(rows, fmt.Sprintf("protocol %d %d", a.Protocol.MinReaderVersion, a.Protocol.MinWriterVersion))
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(rows)
	return rows
}
