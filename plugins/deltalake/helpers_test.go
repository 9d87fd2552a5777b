package deltalake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// newTestOutput builds a delta_lake output from YAML, as Benthos would.
func newTestOutput(t *testing.T, yaml string) *deltaLakeOutput {
	t.Helper()
	pConf, err := dlSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	conf, err := dlConfigFromParsed(pConf)
	require.NoError(t, err)
	out, err := newDeltaLakeOutput(conf, service.MockResources())
	require.NoError(t, err)
	t.Cleanup(func() { _ = out.Close(context.Background()) })
	return out
}

// msg builds a message with optional Danube metadata (topic, offset).
func msg(payload string, meta ...any) *service.Message {
	m := service.NewMessage([]byte(payload))
	for i := 0; i+1 < len(meta); i += 2 {
		m.MetaSetMut(meta[i].(string), meta[i+1])
	}
	return m
}

func danubeMsg(payload, topic string, offset uint64) *service.Message {
	return msg(payload, dlMetaTopic, topic, dlMetaOffset, fmt.Sprint(offset))
}

// tableRows reads every live data file of a table with arrow-go and
// returns the rows as JSON-like maps, partition values included.
func tableRows(t *testing.T, path string) (*delta.Snapshot, []map[string]any) {
	t.Helper()
	return tableRowsWith(t, path, objstore.Options{})
}

// tableRowsWith is tableRows for a table on an object store.
func tableRowsWith(t *testing.T, path string, opts objstore.Options) (*delta.Snapshot, []map[string]any) {
	t.Helper()
	ctx := context.Background()
	store, err := objstore.Open(ctx, path, opts)
	require.NoError(t, err)
	snap, err := delta.Load(ctx, store)
	require.NoError(t, err)
	var rows []map[string]any
	for _, add := range snap.Files() {
		key, err := add.DecodedPath()
		require.NoError(t, err)
		data, err := store.Get(ctx, key)
		require.NoError(t, err)
		require.Equal(t, int64(len(data)), add.Size, "add.size of %s", key)
		rdr, err := file.NewParquetReader(bytes.NewReader(data))
		require.NoError(t, err)
		fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		require.NoError(t, err)
		tbl, err := fr.ReadTable(ctx)
		require.NoError(t, err)
		tr := array.NewTableReader(tbl, 1<<20)
		for tr.Next() {
			rec := tr.RecordBatch()
			js, err := recordJSON(rec)
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

func recordJSON(rec arrow.RecordBatch) ([]map[string]any, error) {
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

// ids returns the sorted "id" values of rows.
func ids(t *testing.T, rows []map[string]any) []int64 {
	t.Helper()
	out := make([]int64, 0, len(rows))
	for _, r := range rows {
		n, err := r["id"].(json.Number).Int64()
		require.NoError(t, err)
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// commitFiles lists the commit versions present in _delta_log.
func commitVersions(t *testing.T, path string) []int64 {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(path, "_delta_log", "*.json"))
	require.NoError(t, err)
	var out []int64
	for _, m := range matches {
		var v int64
		_, err := fmt.Sscanf(filepath.Base(m), "%020d.json", &v)
		require.NoError(t, err)
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// readCommitJSON returns the actions of one commit as generic JSON.
func readCommitJSON(t *testing.T, path string, version int64) []map[string]map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(path, "_delta_log", fmt.Sprintf("%020d.json", version)))
	require.NoError(t, err)
	var out []map[string]map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var a map[string]map[string]any
		require.NoError(t, json.Unmarshal(line, &a), string(line))
		out = append(out, a)
	}
	return out
}

// pythonChecker returns $DC_PYTHON and the checker script, failing the test
// with set-up instructions when the reference reader is not available.
func pythonChecker(t *testing.T) (string, string) {
	t.Helper()
	py := os.Getenv("DC_PYTHON")
	if py == "" {
		t.Fatal("DC_PYTHON is not set: the delta-rs reference checks need it. Run `make services` " +
			"(resources/scripts/services.sh up), then `set -a; source ~/.cache/danube-connect/services.env; set +a`")
	}
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "..", "resources", "scripts", "delta", "deltacheck.py")
	return py, script
}

// deltaRS runs the checker script and decodes its JSON output.
func deltaRS(t *testing.T, args ...string) map[string]any {
	t.Helper()
	py, script := pythonChecker(t)
	cmd := exec.Command(py, append([]string{script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "deltacheck %v: %s", args, stderr.String())
	var res map[string]any
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&res), string(out))
	return res
}

// storageYAML renders object-store options as the output's storage field.
func storageYAML(o objstore.Options) string {
	return fmt.Sprintf(`storage:
  s3: { region: %q, endpoint: %q, access_key_id: %q, secret_access_key: %q, force_path_style: %v }
  azure: { account: %q, key: %q, endpoint: %q }
  gcs: { endpoint: %q }
`, o.S3.Region, o.S3.Endpoint, o.S3.AccessKeyID, o.S3.SecretAccessKey, o.S3.ForcePathStyle,
		o.Azure.Account, o.Azure.Key, o.Azure.Endpoint, o.GCS.Endpoint)
}
