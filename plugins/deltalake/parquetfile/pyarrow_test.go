package parquetfile

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPyArrowReadsOurParquet checks the files with an independent reader
// (pyarrow, the Python side of the delta-rs stack): schema, logical types,
// values and the column statistics written into the footer.
func TestPyArrowReadsOurParquet(t *testing.T) {
	py := os.Getenv("DC_PYTHON")
	if py == "" {
		t.Fatal("DC_PYTHON is not set: run `make services` (resources/scripts/services.sh up) and source ~/.cache/danube-connect/services.env")
	}
	data, df := writeRows(t, richSchema(), richRows[:2], richRows[2:])
	dir := t.TempDir()
	path := filepath.Join(dir, FileName(0, CompressionZstd))
	require.NoError(t, os.WriteFile(path, data, 0o600))
	script := `
import json, sys
import pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
t = f.read()
md = f.metadata
print(json.dumps({
  "rows": t.num_rows,
  "row_groups": md.num_row_groups,
  "format": md.format_version,
  "codec": md.row_group(0).column(0).compression,
  "types": {n: str(t.schema.field(n).type) for n in t.schema.names},
  "values": t.to_pylist(),
}, default=str))
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	require.NoError(t, err, string(out))
	var got struct {
		Rows      int
		RowGroups int `json:"row_groups"`
		Format    string
		Codec     string
		Types     map[string]string
		Values    []map[string]any
	}
	require.NoError(t, json.Unmarshal(out, &got), string(out))
	require.Equal(t, len(richRows), got.Rows)
	require.EqualValues(t, df.NumRecords, got.Rows)
	require.Equal(t, 2, got.RowGroups)
	require.Equal(t, "1.0", got.Format)
	require.Equal(t, "ZSTD", got.Codec)
	require.Equal(t, "timestamp[us, tz=UTC]", got.Types["ts"])
	require.Equal(t, "decimal128(10, 2)", got.Types["amount"])
	require.Equal(t, "date32[day]", got.Types["day"])
	require.Equal(t, "int8", got.Types["small"])
	// pyarrow names the map after its column: "map<string, int64 ('attrs')>".
	require.Contains(t, got.Types["attrs"], "map<string, int64")
	require.Equal(t, "list<element: struct<kind: string, at: timestamp[us, tz=UTC]>>", got.Types["events"])
	require.Equal(t, "1969-12-31 23:59:59.999999+00:00", got.Values[1]["ts"])
	require.Equal(t, "-0.05", got.Values[1]["amount"])
	require.Equal(t, "日本語 ✓ 🚀", got.Values[1]["name"])
	require.Equal(t, map[string]any{"age": 30.0, "tags": []any{"a", "b"}, "addr": map[string]any{"city": "Zürich"}}, got.Values[0]["user"])
	require.Nil(t, got.Values[2]["user"])
}
