package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

// serverAddr is the native address of the test server started by
// resources/scripts/services.sh. Tests fail (not skip) without it.
func serverAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("DC_CLICKHOUSE_ADDR")
	if addr == "" {
		t.Fatal("DC_CLICKHOUSE_ADDR is not set: start the test ClickHouse with `bash resources/scripts/services.sh up` " +
			"(installs Debian's clickhouse-server) and `set -a; source ~/.cache/danube-connect/services.env; set +a`, or run `make test`")
	}
	return addr
}

// chClient runs a query with clickhouse-client against addr and returns its output.
func chClient(t *testing.T, addr, query string) string {
	t.Helper()
	out, err := chClientErr(addr, query)
	if err != nil {
		t.Fatalf("clickhouse-client %q: %v", query, err)
	}
	return out
}

func chClientErr(addr, query string) (string, error) {
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("clickhouse-client", "--host", host, "--port", port, "--multiquery", "--query", query)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%v: %s", err, out)
	}
	return string(out), nil
}

// testDB creates a fresh database for one test.
func testDB(t *testing.T, addr string) string {
	t.Helper()
	db := fmt.Sprintf("it_%s_%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_")), time.Now().UnixNano()%1e9)
	chClient(t, addr, "CREATE DATABASE "+db)
	t.Cleanup(func() { _, _ = chClientErr(addr, "DROP DATABASE IF EXISTS "+db) })
	return db
}

// pipeline is a stream whose input is a producer func and whose output is
// clickhouse_async with the given YAML.
type pipeline struct {
	send   service.MessageBatchHandlerFunc
	stream *service.Stream
	done   chan error
}

func startPipeline(t *testing.T, outputYAML string) *pipeline {
	t.Helper()
	sb := service.NewStreamBuilder()
	send, err := sb.AddBatchProducerFunc()
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.AddOutputYAML(outputYAML); err != nil {
		t.Fatalf("output config: %v\n%s", err, outputYAML)
	}
	if err := sb.SetLoggerYAML("level: warn"); err != nil {
		t.Fatal(err)
	}
	st, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{send: send, stream: st, done: make(chan error, 1)}
	go func() { p.done <- st.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = st.Stop(ctx)
	})
	return p
}

func (p *pipeline) write(t *testing.T, payloads ...string) error {
	t.Helper()
	var b service.MessageBatch
	for _, s := range payloads {
		b = append(b, service.NewMessage([]byte(s)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return p.send(ctx, b)
}

// newOutput builds and connects the output from YAML, for direct WriteBatch calls.
func newOutput(t *testing.T, yaml string) *clickhouseAsyncOutput {
	t.Helper()
	conf, err := clickhouseAsyncOutputSpec().ParseYAML(yaml, nil)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	oc, err := outputConfigFromParsed(conf)
	if err != nil {
		t.Fatal(err)
	}
	o := newClickhouseAsyncOutput(oc, service.MockResources())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := o.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close(context.Background()) })
	return o
}

// writeStrings writes one batch and returns the errors by message index.
func (o *clickhouseAsyncOutput) writeStrings(payloads ...string) map[int]string {
	var b service.MessageBatch
	for _, s := range payloads {
		b = append(b, service.NewMessage([]byte(s)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	idx := b.Index() // before the write: it tags the messages
	return failedIndexes(o.WriteBatch(ctx, b), b, idx)
}

// failedIndexes returns the errors by index of a WriteBatch result.
func failedIndexes(err error, b service.MessageBatch, idx *service.Indexer) map[int]string {
	out := map[int]string{}
	if err == nil {
		return out
	}
	var be *service.BatchError
	if !errors.As(err, &be) {
		for i := range b {
			out[i] = "whole batch: " + err.Error()
		}
		return out
	}
	be.WalkMessagesIndexedBy(idx, func(i int, _ *service.Message, err error) bool {
		if err != nil {
			out[i] = err.Error()
		}
		return true
	})
	return out
}

// Every type the 18.16 server has, with NULLs and edge values, read back
// exactly with SELECT.
func TestAllTypesRoundTrip(t *testing.T) {
	addr := serverAddr(t)
	db := testDB(t, addr)
	chClient(t, addr, `SET allow_experimental_low_cardinality_type = 1;
CREATE TABLE `+db+`.all_types (
  id UInt32, i8 Int8, i16 Int16, i32 Int32, i64 Int64, u8 UInt8, u16 UInt16, u32 UInt32, u64 UInt64,
  f32 Float32, f64 Float64, d9 Decimal(9, 2), d18 Decimal64(6), d38 Decimal128(10),
  s String, fs FixedString(4), u UUID, e8 Enum8('a' = -128, 'b c' = 1, 'z' = 127), e16 Enum16('x' = -32768, 'y' = 32767),
  d Date, dt DateTime, dtz DateTime('Asia/Tokyo'),
  n_i Nullable(Int64), n_s Nullable(String), n_dt Nullable(DateTime),
  lc LowCardinality(String), lcn LowCardinality(Nullable(String)),
  a_i Array(Int32), a_ns Array(Nullable(String)), a_a Array(Array(UInt8)), tup Tuple(Int32, String),
  nest Nested(k String, v Float64),
  def UInt16 DEFAULT 42, mat UInt64 MATERIALIZED id * 2
) ENGINE = MergeTree ORDER BY id`)
	o := newOutput(t, fmt.Sprintf(`
addr: [ %s ]
database: %s
table: all_types
missing_fields: default
`, addr, db))
	rows := []string{
		`{"id":1,"i8":-128,"i16":-32768,"i32":-2147483648,"i64":-9223372036854775808,"u8":255,"u16":65535,"u32":4294967295,"u64":18446744073709551615,
		  "f32":3.4028234e38,"f64":-1.7976931348623157e308,"d9":"-9999999.99","d18":"123456789012.123456","d38":"1234567890123456789012345678.0123456789",
		  "s":"tab\there \"quoted\" ünïcödé","fs":"abcd","u":"123e4567-e89b-12d3-a456-426614174000","e8":"a","e16":-32768,
		  "d":"2105-12-31","dt":"2105-12-31T23:59:59Z","dtz":"2024-05-06 09:08:09",
		  "n_i":-1,"n_s":"x","n_dt":1715000000,"lc":"low","lcn":"card",
		  "a_i":[2147483647,-2147483648],"a_ns":["a",null,""],"a_a":[[1,2],[],[255]],"tup":[7,"seven"],
		  "nest":[{"k":"p","v":0.5},{"k":"q","v":-2}],"def":7}`,
		`{"id":2,"i8":127,"i16":32767,"i32":2147483647,"i64":9223372036854775807,"u8":0,"u16":0,"u32":0,"u64":"0",
		  "f32":-1.5,"f64":0.1,"d9":0.01,"d18":-0.000001,"d38":"0",
		  "s":"","fs":"ab","u":"00000000-0000-0000-0000-000000000000","e8":"b c","e16":"y",
		  "d":"1970-01-01","dt":"1970-01-01 00:00:00","dtz":"2024-05-06T00:00:00Z",
		  "n_i":null,"n_s":null,"n_dt":null,"lc":"","lcn":null,
		  "a_i":[],"a_ns":[null],"a_a":[],"tup":{"x":1},"nest.k":["only"],"nest.v":[1]}`,
		`{"id":3,"e8":127,"e16":"x","tup":[0,""],"dt":"2024-05-06T07:08:09.999+02:00","d":19782,"dtz":1715000000123}`,
	}
	failed := o.writeStrings(rows...)
	// Row 2's tuple is an object: the tuple is unnamed, so only that message fails.
	if len(failed) != 1 || !strings.Contains(failed[1], "unnamed Tuple takes an array") || !strings.Contains(failed[1], `column "tup"`) {
		t.Fatalf("failures %v", failed)
	}
	if f := o.writeStrings(strings.Replace(rows[1], `"tup":{"x":1}`, `"tup":[1,"one"]`, 1)); len(f) > 0 {
		t.Fatal(f)
	}
	// 18.16 prints day 0 as 0000-00-00 and has no date tables past 2105.
	// Row 3 shares its block with row 1, which sets def, so it gets the
	// type's default 0; row 2 (a block of its own) leaves def to the server.
	got := chClient(t, addr, "SELECT * , mat FROM "+db+".all_types ORDER BY id FORMAT TSV")
	want := strings.Join([]string{
		"1\t-128\t-32768\t-2147483648\t-9223372036854775808\t255\t65535\t4294967295\t18446744073709551615\t3.4028235e38\t-1.7976931348623157e308\t-9999999.99\t123456789012.123456\t1234567890123456789012345678.0123456789\ttab\\there \"quoted\" ünïcödé\tabcd\t123e4567-e89b-12d3-a456-426614174000\ta\tx\t2105-12-31\t2105-12-31 23:59:59\t2024-05-06 09:08:09\t-1\tx\t2024-05-06 12:53:20\tlow\tcard\t[2147483647,-2147483648]\t['a',NULL,'']\t[[1,2],[],[255]]\t(7,'seven')\t['p','q']\t[0.5,-2]\t7\t2",
		"2\t127\t32767\t2147483647\t9223372036854775807\t0\t0\t0\t0\t-1.5\t0.1\t0.01\t-0.000001\t0.0000000000\t\tab\\0\\0\t00000000-0000-0000-0000-000000000000\tb c\ty\t0000-00-00\t0000-00-00 00:00:00\t2024-05-06 09:00:00\t\\N\t\\N\t\\N\t\t\\N\t[]\t[NULL]\t[]\t(1,'one')\t['only']\t[1]\t42\t4",
		"3\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0.00\t0.000000\t0.0000000000\t\t\\0\\0\\0\\0\t00000000-0000-0000-0000-000000000000\tz\tx\t2024-02-29\t2024-05-06 05:08:09\t2024-05-06 21:53:20\t\\N\t\\N\t\\N\t\t\\N\t[]\t[]\t[]\t(0,'')\t[]\t[]\t0\t6",
	}, "\n") + "\n"
	if got != want {
		gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
		for i := range wl {
			if i >= len(gl) || gl[i] != wl[i] {
				g := ""
				if i < len(gl) {
					g = gl[i]
				}
				gf, wf := strings.Split(g, "\t"), strings.Split(wl[i], "\t")
				for j := range wf {
					if j >= len(gf) || gf[j] != wf[j] {
						t.Errorf("row %d column %d: got %q, want %q", i+1, j+1, at(gf, j), wf[j])
					}
				}
			}
		}
		t.Fatalf("SELECT differs:\n%s", got)
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "<none>"
}

func TestConfigLint(t *testing.T) {
	linter := service.GlobalEnvironment().NewComponentConfigLinter()
	for _, tt := range []struct {
		name, yaml string
		lint       string // substring of the first lint or parse error, "" for none
	}{
		{"minimal", "clickhouse_async:\n  addr: [ 127.0.0.1:9000 ]\n  table: t\n", ""},
		{"async without wait", "clickhouse_async:\n  addr: [ a:9000 ]\n  table: t\n  async_insert: true\n  wait_for_async_insert: false\n", ""},
		{"wait without async", "clickhouse_async:\n  addr: [ a:9000 ]\n  table: t\n  wait_for_async_insert: false\n", "wait_for_async_insert only applies with async_insert: true"},
		{"no connections", "clickhouse_async:\n  addr: [ a:9000 ]\n  table: t\n  max_open_conns: 0\n", "max_open_conns must be at least 1"},
		{"bad compression", "clickhouse_async:\n  addr: [ a:9000 ]\n  table: t\n  compression: gzip\n", "not a valid option"},
		{"bad dedup token", "clickhouse_async:\n  addr: [ a:9000 ]\n  table: t\n  deduplication_token: offsets\n", "not a valid option"},
		{"missing table", "clickhouse_async:\n  addr: [ a:9000 ]\n", "table"},
		{"unknown field", "clickhouse_async:\n  addr: [ a:9000 ]\n  table: t\n  nope: 1\n", "nope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lints, err := linter.LintOutputYAML([]byte(tt.yaml))
			switch {
			case tt.lint == "" && (err != nil || len(lints) > 0):
				t.Fatalf("unexpected lint: %v %v", err, lints)
			case tt.lint == "":
			case err != nil:
				if !strings.Contains(err.Error(), tt.lint) {
					t.Fatalf("error %v, want %q", err, tt.lint)
				}
			case len(lints) == 0 || !strings.Contains(lints[0].What, tt.lint):
				t.Fatalf("lints %v, want %q", lints, tt.lint)
			}
		})
	}
}
