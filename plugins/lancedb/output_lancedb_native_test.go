//go:build lancedb

package lancedb

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore/objstoretest"
)

// These tests link lancedb-go's native library (build tag lancedb; `make
// test` builds the library and runs them) and check what the output wrote
// with the Python lancedb package, the reference reader.

// lanceCheck runs resources/scripts/lancedb/lancecheck.py with req.
func lanceCheck(t *testing.T, req map[string]any) map[string]any {
	t.Helper()
	py := objstoretest.Env(t, "DC_PYTHON")
	if err := exec.Command(py, "-c", "import lancedb").Run(); err != nil {
		t.Fatalf("%s cannot import lancedb (%v): run `make services` (resources/scripts/services.sh up installs lancedb==0.40.0 into the venv)", py, err)
	}
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "..", "resources", "scripts", "lancedb", "lancecheck.py")
	arg, err := json.Marshal(req)
	require.NoError(t, err)
	cmd := exec.Command(py, "-W", "ignore", script, string(arg))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "lancecheck %s: %s", req["op"], stderr.String())
	var res map[string]any
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	return res
}

// newOutput builds the output from a config like the Benthos constructor.
func newOutput(t *testing.T, yaml string) *ldbOutput {
	t.Helper()
	conf, err := ldbSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	c, err := ldbConfigFromParsed(conf)
	require.NoError(t, err)
	out, err := newLanceDBOutput(c, 2, service.MockResources())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, out.Connect(ctx))
	t.Cleanup(func() { _ = out.Close(context.Background()) })
	return out
}

// write sends payloads as one batch and returns the error of each failed
// message by index.
func write(t *testing.T, out *ldbOutput, payloads ...string) map[int]string {
	t.Helper()
	batch := make(service.MessageBatch, len(payloads))
	for i, p := range payloads {
		batch[i] = service.NewMessage([]byte(p))
	}
	return writeBatch(t, out, batch)
}

func writeBatch(t *testing.T, out *ldbOutput, batch service.MessageBatch) map[int]string {
	t.Helper()
	idx := batch.Index()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := out.WriteBatch(ctx, batch)
	failed := map[int]string{}
	if err == nil {
		return failed
	}
	be, ok := err.(*service.BatchError)
	require.True(t, ok, "want a *service.BatchError, got %T: %v", err, err)
	be.WalkMessagesIndexedBy(idx, func(i int, _ *service.Message, merr error) bool {
		if merr != nil {
			failed[i] = merr.Error()
		}
		return true
	})
	return failed
}

func vec(seed, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(math.Sin(float64(seed*dim+i))) / 3
	}
	return v
}

func jsonVec(v []float32) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func b64Vec(v []float32) string {
	buf := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(buf)
}

func floats(t *testing.T, v any) []float32 {
	t.Helper()
	xs, ok := v.([]any)
	require.True(t, ok, "%T", v)
	out := make([]float32, len(xs))
	for i, x := range xs {
		out[i] = float32(x.(float64))
	}
	return out
}

func TestLanceDBWritesTablePythonReads(t *testing.T) {
	dir := t.TempDir()
	const dim = 16
	out := newOutput(t, fmt.Sprintf(`
uri: %s
table: docs
vector: { path: embedding, dimension: %d }
columns:
  - { name: text, type: string, required: true }
  - { name: source, path: meta.source, type: string }
  - { name: page, path: meta.page, type: int32 }
  - { name: metadata, path: meta, type: json }
  - { name: ts, type: timestamp }
`, dir, dim))
	want := map[string][]float32{}
	for b := 0; b < 3; b++ {
		var payloads []string
		for i := 0; i < 100; i++ {
			id := fmt.Sprintf("doc-%d-%d", b, i)
			v := vec(b*100+i, dim)
			want[id] = v
			payloads = append(payloads, fmt.Sprintf(`{"id":%q,"text":"chunk %d","embedding":%s,"meta":{"source":"s%d","page":%d},"ts":"2026-12-05T00:00:%02dZ"}`,
				id, i, jsonVec(v), b, i, i%60))
		}
		require.Empty(t, write(t, out, payloads...))
	}
	res := lanceCheck(t, map[string]any{"op": "read", "uri": dir, "table": "docs", "ids_and_vectors": true,
		"query": want["doc-1-42"], "k": 3})
	assert.Equal(t, float64(300), res["count"])
	assert.Equal(t, float64(4), res["version"], "create + one version per add")
	assert.Equal(t, []any{
		[]any{"id", "string", false},
		[]any{"vector", "fixed_size_list<item: float>[16]", false},
		[]any{"text", "string", false},
		[]any{"source", "string", true},
		[]any{"page", "int32", true},
		[]any{"metadata", "string", true},
		[]any{"ts", "timestamp[us, tz=UTC]", true},
	}, res["schema"])
	cols := res["columns"].(map[string]any)
	ids := cols["id"].([]any)
	vecs := cols["vector"].([]any)
	require.Len(t, ids, 300)
	for i, id := range ids {
		assert.Equal(t, want[id.(string)], floats(t, vecs[i]), "vector of %s", id)
	}
	assert.Equal(t, `{"source":"s0","page":0}`, cols["metadata"].([]any)[0])
	assert.Equal(t, "2026-12-05T00:00:00+00:00", cols["ts"].([]any)[0])
	assert.Equal(t, "doc-1-42", res["nearest"].([]any)[0], "nearest neighbour of its own vector")
}

// Only the bad messages of a batch fail, each with a reason naming the
// table, the message and the field; the rest is written.
func TestLanceDBBadInputFailsOnlyBadMessages(t *testing.T) {
	dir := t.TempDir()
	const dim = 8
	out := newOutput(t, fmt.Sprintf(`
uri: %s
table: '${! meta("table").or("docs") }'
vector: { dimension: %d }
columns: [ { name: text, type: string, required: true } ]
`, dir, dim))
	good := func(i int) string {
		return fmt.Sprintf(`{"id":"g%d","text":"t","vector":%s}`, i, jsonVec(vec(i, dim)))
	}
	huge := `{"id":"huge","text":"t","vector":[` + strings.Repeat("0.5,", 1_000_000) + `0.5]}`
	bad := map[int]string{
		1:  `{"id":"b1","text":"t","vector":[1,2,3]}`,
		3:  `{"id":"b3","text":"t","vector":[1,2,3,NaN,5,6,7,8]}`,
		5:  `{"id":"b5","text":"t","vector":[1,2,"3",4,5,6,7,8]}`,
		7:  `{"id":"b7","text":"t","vector":null}`,
		9:  `{"id":null,"text":"t","vector":[1,2,3,4,5,6,7,8]}`,
		11: `{"id":"b11","vector":[1,2,3,4,5,6,7,8]}`,
		13: `not json`,
		15: huge,
		17: `{"id":"b17","text":"t","vector":[1,2,3,4,5,6,7,1e40]}`,
	}
	wantErr := map[int]string{
		1:  "table docs, message 1: row 1: vector \"vector\": dimension 3, want 8",
		3:  "element 3 is NaN",
		5:  "element 2 is a string",
		7:  `vector field "vector" is null`,
		9:  `field "id" (id) is null, but required`,
		11: `missing required field "text"`,
		13: "invalid JSON",
		15: "dimension 1000001, want 8",
		17: "element 7 (1e40): out of range of float32",
	}
	// An oversized batch: 20,000 messages in one call, one add.
	const n = 20000
	payloads := make([]string, n)
	var wantIDs []string
	for i := range payloads {
		if p, ok := bad[i]; ok {
			payloads[i] = p
			continue
		}
		payloads[i] = good(i)
		wantIDs = append(wantIDs, fmt.Sprintf("g%d", i))
	}
	failed := write(t, out, payloads...)
	require.Len(t, failed, len(bad), "%v", failed)
	for i, w := range wantErr {
		assert.Contains(t, failed[i], w, "message %d", i)
	}
	res := lanceCheck(t, map[string]any{"op": "read", "uri": dir, "table": "docs", "ids_and_vectors": true})
	assert.Equal(t, float64(n-len(bad)), res["count"])
	assert.Equal(t, float64(2), res["version"], "one add for the whole batch")
	var gotIDs []string
	for _, id := range res["columns"].(map[string]any)["id"].([]any) {
		gotIDs = append(gotIDs, id.(string))
	}
	sort.Strings(gotIDs)
	sort.Strings(wantIDs)
	assert.Equal(t, wantIDs, gotIDs)

	// base64: NaN, short, not a string.
	out64 := newOutput(t, fmt.Sprintf(`{uri: %s, table: b64, vector: {dimension: %d}, vector_encoding: base64_f32}`, dir, dim))
	nan := vec(1, dim)
	nan[4] = float32(math.NaN())
	failed = write(t, out64,
		fmt.Sprintf(`{"id":"ok","vector":%q}`, b64Vec(vec(1, dim))),
		fmt.Sprintf(`{"id":"nan","vector":%q}`, b64Vec(nan)),
		fmt.Sprintf(`{"id":"short","vector":%q}`, b64Vec(vec(1, dim-1))),
		`{"id":"arr","vector":[1,2,3,4,5,6,7,8]}`)
	assert.Len(t, failed, 3)
	assert.Contains(t, failed[1], "element 4 is NaN")
	assert.Contains(t, failed[2], "holds 7 float32, want 8")
	assert.Contains(t, failed[3], "want a base64 string")
	res = lanceCheck(t, map[string]any{"op": "read", "uri": dir, "table": "b64", "ids_and_vectors": true})
	assert.Equal(t, float64(1), res["count"])
	assert.Equal(t, vec(1, dim), floats(t, res["columns"].(map[string]any)["vector"].([]any)[0]))
}

// A table created by Python (its own column order, nullable columns, a
// column this output does not write) is appended to, and Python reads both.
func TestLanceDBAppendsToPythonTable(t *testing.T) {
	dir := t.TempDir()
	const dim = 4
	var rows []map[string]any
	for i := 0; i < 5; i++ {
		rows = append(rows, map[string]any{"text": fmt.Sprintf("py %d", i), "score": 0.5, "vector": vec(i, dim), "id": int64(i)})
	}
	// Lance file format 2.1 at most: lancedb-go's lance 0.37 writes 2.2 in a
	// pre-release encoding that newer readers reject (see the README).
	res := lanceCheck(t, map[string]any{"op": "create", "uri": dir, "table": "py", "rows": rows, "data_storage_version": "2.1",
		"schema": [][]any{{"text", "string", true}, {"score", "float64", true}, {"vector", fmt.Sprintf("vector:%d", dim), true}, {"id", "int64", true}}})
	require.Equal(t, float64(5), res["count"])

	out := newOutput(t, fmt.Sprintf(`
uri: %s
table: py
create_table: false
id: { type: int64 }
vector: { dimension: %d }
columns: [ { name: text, type: string } ]
payload_format: json_array
`, dir, dim))
	var msg []string
	for i := 5; i < 15; i++ {
		msg = append(msg, fmt.Sprintf(`{"id":%d,"text":"go %d","vector":%s}`, i, i, jsonVec(vec(i, dim))))
	}
	require.Empty(t, write(t, out, "["+strings.Join(msg[:5], ",")+"]", "["+strings.Join(msg[5:], ",")+"]"))

	res = lanceCheck(t, map[string]any{"op": "read", "uri": dir, "table": "py", "ids_and_vectors": true, "query": vec(12, dim), "k": 1})
	assert.Equal(t, float64(15), res["count"])
	cols := res["columns"].(map[string]any)
	for i, id := range cols["id"].([]any) {
		n := int(id.(float64))
		assert.Equal(t, vec(n, dim), floats(t, cols["vector"].([]any)[i]), "vector of %d", n)
		if n >= 5 {
			assert.Nil(t, cols["score"].([]any)[i], "a column this output does not write is null")
			assert.Equal(t, fmt.Sprintf("go %d", n), cols["text"].([]any)[i])
		}
	}
	assert.Equal(t, float64(12), res["nearest"].([]any)[0])

	// A missing table with create_table off, and a schema that does not fit, fail with the reason.
	failed := write(t, out, `[]`)
	assert.Empty(t, failed)
	outMissing := newOutput(t, fmt.Sprintf(`{uri: %s, table: nope, create_table: false, vector: {dimension: %d}}`, dir, dim))
	failed = write(t, outMissing, `{"id":"a","vector":[1,2,3,4]}`)
	assert.Contains(t, failed[0], `table "nope" does not exist`)
	outMismatch := newOutput(t, fmt.Sprintf(`{uri: %s, table: py, vector: {dimension: %d}}`, dir, dim+1))
	failed = write(t, outMismatch, `{"id":"a","vector":[1,2,3,4,5]}`)
	assert.Contains(t, failed[0], `table "py" does not fit the configured schema`)
}

func TestLanceDBFloat16NDJSONAndRouting(t *testing.T) {
	dir := t.TempDir()
	const dim = 8
	out := newOutput(t, fmt.Sprintf(`
uri: %s
table: '${! meta("kind") }'
vector: { dimension: %d, element_type: float16 }
payload_format: ndjson
vector_encoding: base64_f32
`, dir, dim))
	// The table comes from the message's metadata.
	rows := func(kind string, from, n int) string {
		var lines []string
		for i := from; i < from+n; i++ {
			lines = append(lines, fmt.Sprintf(`{"id":"%s-%d","vector":%q}`, kind, i, b64Vec([]float32{0.5, -1, 2, 0.25, float32(i), 0, 1, -2})))
		}
		return strings.Join(lines, "\n")
	}
	msg := func(kind, payload string) *service.Message {
		m := service.NewMessage([]byte(payload))
		m.MetaSetMut("kind", kind)
		return m
	}
	bad := `{"id":"x","vector":"` + b64Vec([]float32{1e6, 0, 0, 0, 0, 0, 0, 0}) + `"}`
	failed := writeBatch(t, out, service.MessageBatch{msg("a", rows("a", 0, 10)), msg("b", rows("b", 0, 5)),
		msg("a", bad+"\n"+rows("a", 10, 1)), msg("a", rows("a", 10, 3))})
	require.Len(t, failed, 1)
	assert.Contains(t, failed[2], "row 1 (line 1)")
	assert.Contains(t, failed[2], "out of the float16 range")
	for table, count := range map[string]float64{"a": 13, "b": 5} {
		res := lanceCheck(t, map[string]any{"op": "read", "uri": dir, "table": table, "ids_and_vectors": true})
		assert.Equal(t, count, res["count"], table)
		assert.Equal(t, "fixed_size_list<item: halffloat>[8]", res["schema"].([]any)[1].([]any)[1])
		assert.Equal(t, []float32{0.5, -1, 2, 0.25, 0, 0, 1, -2}, floats(t, res["columns"].(map[string]any)["vector"].([]any)[0]))
	}
}

// The index is built in the background once the table has min_rows rows;
// Python sees it, and optimize (the documented maintenance) compacts.
func TestLanceDBIndexAndOptimize(t *testing.T) {
	dir := t.TempDir()
	const dim = 16
	out := newOutput(t, fmt.Sprintf(`{uri: %s, table: idx, vector: {dimension: %d}, index: {type: ivf_pq, min_rows: 1000}}`, dir, dim))
	for b := 0; b < 3; b++ {
		var payloads []string
		for i := 0; i < 500; i++ {
			payloads = append(payloads, fmt.Sprintf(`{"id":"%d","vector":%s}`, b*500+i, jsonVec(vec(b*500+i, dim))))
		}
		require.Empty(t, write(t, out, payloads...))
	}
	require.NoError(t, out.Close(context.Background())) // waits for the index build
	res := lanceCheck(t, map[string]any{"op": "read", "uri": dir, "table": "idx", "query": vec(777, dim), "k": 1})
	assert.Equal(t, float64(1500), res["count"])
	require.Len(t, res["indices"], 1)
	assert.Equal(t, []any{"vector"}, res["indices"].([]any)[0].(map[string]any)["columns"])
	assert.Equal(t, "IvfPq", res["indices"].([]any)[0].(map[string]any)["type"])
	assert.Equal(t, "777", res["nearest"].([]any)[0])
	opt := lanceCheck(t, map[string]any{"op": "optimize", "uri": dir, "table": "idx"})
	assert.Equal(t, float64(3), opt["fragments_before"])
	assert.Less(t, opt["fragments_after"], opt["fragments_before"], "compacted")
	assert.Equal(t, float64(1500), opt["count"])
}

// S3 through MinIO: lancedb-go passes no endpoint, so the output exports
// AWS_ENDPOINT / AWS_ALLOW_HTTP (and the credentials) to the process
// environment, which Lance's object store reads.
func TestLanceDBS3MinIO(t *testing.T) {
	bucketURL, opts := objstoretest.NewS3Bucket(t)
	uri := bucketURL + "/rag"
	const dim = 8
	out := newOutput(t, fmt.Sprintf(`
uri: %s
table: docs
vector: { dimension: %d }
columns: [ { name: text, type: string } ]
s3: { region: %s, endpoint: %s, access_key_id: %s, secret_access_key: %s }
`, uri, dim, opts.S3.Region, opts.S3.Endpoint, opts.S3.AccessKeyID, opts.S3.SecretAccessKey))
	var payloads []string
	for i := 0; i < 50; i++ {
		payloads = append(payloads, fmt.Sprintf(`{"id":"s3-%d","text":"t","vector":%s}`, i, jsonVec(vec(i, dim))))
	}
	require.Empty(t, write(t, out, payloads...))
	require.Empty(t, write(t, out, payloads[:10]...))
	res := lanceCheck(t, map[string]any{"op": "read", "uri": uri, "table": "docs", "ids_and_vectors": true, "query": vec(33, dim), "k": 1,
		"storage_options": map[string]string{"aws_endpoint": opts.S3.Endpoint, "aws_access_key_id": opts.S3.AccessKeyID,
			"aws_secret_access_key": opts.S3.SecretAccessKey, "aws_region": opts.S3.Region, "allow_http": "true"}})
	assert.Equal(t, float64(60), res["count"])
	assert.Equal(t, "s3-33", res["nearest"].([]any)[0])
	assert.Equal(t, vec(0, dim), floats(t, res["columns"].(map[string]any)["vector"].([]any)[0]))
}

// Through a whole Benthos stream: registration, default batching, acks.
func TestLanceDBStream(t *testing.T) {
	dir := t.TempDir()
	b := service.NewStreamBuilder()
	send, err := b.AddProducerFunc()
	require.NoError(t, err)
	require.NoError(t, b.AddOutputYAML(fmt.Sprintf(`
lancedb:
  uri: %s
  table: s
  vector: { dimension: 4 }
  batching: { count: 25, period: 50ms }
`, dir)))
	stream, err := b.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()
	var errs []error
	for i := 0; i < 100; i++ {
		p := fmt.Sprintf(`{"id":"%d","vector":%s}`, i, jsonVec(vec(i, 4)))
		if i == 50 {
			p = `{"id":"bad","vector":[1]}`
		}
		if err := send(ctx, service.NewMessage([]byte(p))); err != nil {
			errs = append(errs, err)
		}
	}
	require.NoError(t, stream.Stop(ctx))
	<-done
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error(), "dimension 1, want 4")
	res := lanceCheck(t, map[string]any{"op": "read", "uri": dir, "table": "s"})
	assert.Equal(t, float64(99), res["count"])
}

func TestMain(m *testing.M) {
	// The S3 test sets AWS_* for the process; start without stray ones.
	for _, k := range []string{"AWS_ENDPOINT", "AWS_ALLOW_HTTP"} {
		os.Unsetenv(k)
	}
	os.Exit(m.Run())
}
