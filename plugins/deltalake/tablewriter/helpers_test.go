package tablewriter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// testConfig is the delta_lake output's default configuration for a local
// table.
func testConfig() Config {
	return Config{
		OpenStore: func(ctx context.Context, location string) (objstore.Store, error) {
			return objstore.Open(ctx, location, objstore.Options{})
		},
		MaxOpenTables:    16,
		SchemaEvolution:  true,
		Compression:      "zstd",
		TargetFileSize:   128 << 20,
		FlushPeriod:      time.Second,
		MaxBufferedBytes: 64 << 20,
		CheckpointEvery:  10,
		ExactlyOnce:      true,
		HistoryCommits:   1000,
		HistoryPeriod:    168 * time.Hour,
		MaxInFlight:      4,
	}
}

// newTestWriter returns a writer closed at the end of the test.
func newTestWriter(t *testing.T, conf Config) *Writer {
	t.Helper()
	w := New(conf, nil, Metrics{})
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	return w
}

// writeAll writes msgs and fails the test on any per-message failure.
func writeAll(t *testing.T, w *Writer, msgs ...Message) {
	t.Helper()
	require.NoError(t, w.Write(context.Background(), msgs, func(i int, err error) {
		t.Errorf("message %d failed: %v", i, err)
	}))
}

// jsonMessages builds one message per payload for table.
func jsonMessages(table string, payloads ...string) []Message {
	out := make([]Message, len(payloads))
	for i, p := range payloads {
		out[i] = Message{Table: table, Payload: []byte(p)}
	}
	return out
}

// tableRows reads every live data file of a local table with arrow-go and
// returns the rows as JSON-like maps, partition values included.
func tableRows(t *testing.T, path string) (*delta.Snapshot, []map[string]any) {
	t.Helper()
	ctx := context.Background()
	store, err := objstore.Open(ctx, path, objstore.Options{})
	require.NoError(t, err)
	snap, err := delta.Load(ctx, store)
	require.NoError(t, err)
	var rows []map[string]any
	for _, add := range snap.Files() {
		key, err := add.DecodedPath()
		require.NoError(t, err)
		data, err := store.Get(ctx, key)
		require.NoError(t, err)
		rdr, err := file.NewParquetReader(bytes.NewReader(data))
		require.NoError(t, err)
		fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		require.NoError(t, err)
		tbl, err := fr.ReadTable(ctx)
		require.NoError(t, err)
		tr := array.NewTableReader(tbl, 1<<20)
		for tr.Next() {
			js, err := recordMaps(tr.RecordBatch())
			require.NoError(t, err)
			for _, r := range js {
				for c, v := range add.PartitionValues {
					if v == nil {
						r[c] = nil
					} else {
						r[c] = *v
					}
				}
				rows = append(rows, r)
			}
		}
		tr.Release()
		tbl.Release()
	}
	return snap, rows
}

func recordMaps(rec arrow.RecordBatch) ([]map[string]any, error) {
	var buf bytes.Buffer
	if err := array.RecordToJSON(rec, &buf); err != nil {
		return nil, err
	}
	var out []map[string]any
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// idsOf returns the "id" values of rows as strings.
func idsOf(rows []map[string]any) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, fmt.Sprint(r["id"]))
	}
	return out
}
