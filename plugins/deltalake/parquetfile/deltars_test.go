package parquetfile

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// TestDeltaRSReadsOurFilesAndStats hand-assembles a one-commit Delta table
// around files written here and lets delta-rs (Python deltalake) read the
// rows, the partition values and the parsed add.stats, and prune files by
// them.
func TestDeltaRSReadsOurFilesAndStats(t *testing.T) {
	py := os.Getenv("DC_PYTHON")
	if py == "" {
		t.Fatal("DC_PYTHON is not set: run `make services` (resources/scripts/services.sh up) and source ~/.cache/danube-connect/services.env")
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ts", Type: tsUTC, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
		{Name: "user", Type: arrow.StructOf(
			arrow.Field{Name: "age", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			arrow.Field{Name: "city", Type: arrow.BinaryTypes.String, Nullable: true},
		), Nullable: true},
		{Name: "tags", Type: arrow.ListOfField(arrow.Field{Name: "element", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
		{Name: "p", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	const schemaString = `{"type":"struct","fields":[` +
		`{"name":"id","type":"long","nullable":false,"metadata":{}},` +
		`{"name":"name","type":"string","nullable":true,"metadata":{}},` +
		`{"name":"ts","type":"timestamp","nullable":true,"metadata":{}},` +
		`{"name":"day","type":"date","nullable":true,"metadata":{}},` +
		`{"name":"dec","type":"decimal(10,2)","nullable":true,"metadata":{}},` +
		`{"name":"user","type":{"type":"struct","fields":[{"name":"age","type":"integer","nullable":true,"metadata":{}},{"name":"city","type":"string","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},` +
		`{"name":"tags","type":{"type":"array","elementType":"string","containsNull":true},"nullable":true,"metadata":{}},` +
		`{"name":"p","type":"string","nullable":true,"metadata":{}}]}`
	d, err := jsonrows.NewDecoder(schema, jsonrows.DecoderOptions{PartitionColumns: []string{"p"}})
	require.NoError(t, err)
	rows := []string{
		`{"id":1,"name":"` + strings.Repeat("long-name-", 5) + `","ts":"1969-12-31T23:59:59.999999Z","day":"2024-01-01","dec":"1.25","user":{"age":30,"city":"Zürich"},"tags":["a"],"p":"a/b"}`,
		`{"id":2,"name":"bob","ts":"2024-05-06T07:08:09.123456Z","day":"2024-02-01","dec":-3,"user":null,"tags":null,"p":"a/b"}`,
		`{"id":3,"name":null,"ts":null,"day":null,"dec":null,"user":{"age":5},"p":null}`,
	}
	dir := t.TempDir()
	writers := map[string]*PartitionWriter{}
	pvals := map[string]*string{}
	var order []string
	for _, row := range rows {
		r, err := d.Decode([]byte(row))
		require.NoError(t, err)
		key := string(r.AppendPartitionKey(nil))
		if writers[key] == nil {
			pv := r.PartitionValues()[0]
			sub := "p=__HIVE_DEFAULT_PARTITION__"
			if !pv.Null {
				pvals[key] = PartitionValue(pv)
				sub = "p=a%2Fb"
			}
			require.NoError(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
			open := func() (Sink, string, error) {
				name := sub + "/" + FileName(0, CompressionZstd)
				f, err := os.Create(filepath.Join(dir, name))
				return fileSink{f}, name, err
			}
			writers[key], err = NewPartitionWriter(d.NewBuffer(nil), open, WriterOptions{})
			require.NoError(t, err)
			order = append(order, key)
		}
		require.NoError(t, writers[key].Append(r))
	}
	log := []string{
		`{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}`,
		`{"metaData":{"id":"6d1c2a35-2b0e-4c38-9c3a-3f0a1f5d7c11","format":{"provider":"parquet","options":{}},"schemaString":` + jsonString(schemaString) + `,"partitionColumns":["p"],"configuration":{},"createdTime":1700000000000}}`,
		`{"commitInfo":{"timestamp":1700000000000,"operation":"WRITE","operationParameters":{"mode":"Append"}}}`,
	}
	for _, key := range order {
		files, err := writers[key].Flush()
		require.NoError(t, err)
		writers[key].Close()
		for _, f := range files {
			var pv any
			if v := pvals[key]; v != nil {
				pv = *v
			}
			add, _ := json.Marshal(map[string]any{"add": map[string]any{
				"path": strings.ReplaceAll(f.Path, "%", "%25"), "partitionValues": map[string]any{"p": pv},
				"size": f.Size, "modificationTime": 1700000000000, "dataChange": true, "stats": f.Stats,
			}})
			log = append(log, string(add))
		}
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "_delta_log"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "_delta_log", "00000000000000000000.json"), []byte(strings.Join(log, "\n")+"\n"), 0o644))

	script := `
import json, os, sys
from deltalake import DeltaTable
import pyarrow.compute as pc
dt = DeltaTable(sys.argv[1])
t = dt.to_pyarrow_table().sort_by("id")
acts = dt.get_add_actions(flatten=True)
acts = {c: acts.column(c).to_pylist() for c in acts.column_names}
pruned = dt.to_pyarrow_dataset().to_table(filter=pc.field("id") > 2).num_rows
print(json.dumps({"rows": t.to_pylist(), "actions": acts, "pruned": pruned,
  "types": {f.name: str(f.type) for f in t.schema}}, default=str))
sys.stdout.flush()
os._exit(0)  # skip interpreter teardown: the deltalake runtime may abort in it
`
	out, err := exec.Command(py, "-c", script, dir).CombinedOutput()
	require.NoError(t, err, string(out))
	var got struct {
		Rows    []map[string]any
		Actions map[string][]any
		Pruned  int
		Types   map[string]string
	}
	require.NoError(t, json.Unmarshal(out, &got), string(out))
	require.Len(t, got.Rows, 3)
	require.Equal(t, "a/b", got.Rows[0]["p"])
	require.Nil(t, got.Rows[2]["p"])
	require.Equal(t, "1969-12-31 23:59:59.999999+00:00", got.Rows[0]["ts"])
	require.Equal(t, "-3.00", got.Rows[1]["dec"])
	require.Equal(t, map[string]any{"age": 30.0, "city": "Zürich"}, got.Rows[0]["user"])
	require.Equal(t, 1, got.Pruned)
	require.Contains(t, got.Types["ts"], "timestamp[us, tz=UTC]")
	// Stats as delta-rs parsed them, per file (a/b first, then null).
	require.Equal(t, []any{2.0, 1.0}, got.Actions["num_records"])
	require.Equal(t, []any{1.0, 3.0}, got.Actions["min.id"])
	require.Equal(t, []any{2.0, 3.0}, got.Actions["max.id"])
	require.Equal(t, []any{30.0, 5.0}, got.Actions["min.user.age"])
	require.Equal(t, []any{1.0, 0.0}, got.Actions["null_count.user.age"])
	require.Equal(t, []any{"1969-12-31 23:59:59.999000+00:00", nil}, got.Actions["min.ts"])
	require.Equal(t, []any{"2024-05-06 07:08:09.123000+00:00", nil}, got.Actions["max.ts"])
	require.Equal(t, []any{"bob", nil}, got.Actions["min.name"])
	require.Equal(t, []any{"long-name-long-name-long-name-lp", nil}, got.Actions["max.name"], "truncated, incremented upper bound")
	require.Equal(t, []any{"-3.00", nil}, got.Actions["min.dec"])
	require.Equal(t, []any{"2024-01-01", nil}, got.Actions["min.day"])
}

type fileSink struct{ *os.File }

func (f fileSink) Abort() error {
	name := f.Name()
	_ = f.File.Close()
	return os.Remove(name)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
