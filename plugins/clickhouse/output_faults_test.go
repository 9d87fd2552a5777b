package clickhouse

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/internal/testnet"
)

// privateServer is a clickhouse-server of this test alone (own data dir and
// port), so it can be stopped and started again.
type privateServer struct {
	t    *testing.T
	bin  string
	conf string
	addr string
	cmd  *exec.Cmd
}

func startPrivateServer(t *testing.T) *privateServer {
	t.Helper()
	serverAddr(t) // the services script installed the server
	bin, err := exec.LookPath("clickhouse-server")
	if err != nil {
		bin = "/usr/sbin/clickhouse-server"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("clickhouse-server not found (install it with `bash resources/scripts/services.sh up`): %v", err)
	}
	port := testnet.FreePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "config.xml")
	users := filepath.Join(dir, "users.xml")
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%d</tcp_port>
  <path>%s/data/</path><tmp_path>%s/tmp/</tmp_path><user_files_path>%s/uf/</user_files_path>
  <format_schema_path>%s/fs/</format_schema_path>
  <mark_cache_size>67108864</mark_cache_size>
  <users_config>%s</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <timezone>UTC</timezone><mlock_executable>false</mlock_executable>
</yandex>`, port, dir, dir, dir, dir, users)), 0o644))
	must(t, os.WriteFile(users, []byte(`<?xml version="1.0"?>
<yandex>
  <profiles><default><allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>`), 0o644))
	s := &privateServer{t: t, bin: bin, conf: conf, addr: "127.0.0.1:" + strconv.Itoa(port)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (s *privateServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "--config-file="+s.conf)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(s.t, s.cmd.Start())
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := chClientErr(s.addr, "SELECT 1"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("private clickhouse-server on %s did not start", s.addr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop kills the server abruptly (no clean shutdown).
func (s *privateServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// The server is killed while a stream writes and started again: every
// message is in the table afterwards (at least once; the output retries the
// identical block until the server is back).
func TestServerStoppedMidStream(t *testing.T) {
	srv := startPrivateServer(t)
	chClient(t, srv.addr, "CREATE TABLE default.ev (id UInt64, s String) ENGINE = MergeTree ORDER BY id")
	p := startPipeline(t, fmt.Sprintf(`
clickhouse_async:
  addr: [ %s ]
  table: ev
  dial_timeout: 1s
  write_timeout: 5s
  retry: { max_retries: -1, initial_interval: 50ms, max_interval: 500ms }
  max_in_flight: 4
`, srv.addr))
	const n = 400
	var wg sync.WaitGroup
	var slowest atomic.Int64
	errs := make(chan error, n)
	sent := make(chan int, n)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				// A producer that redelivers on nack, like a Danube subscription.
				for attempt := 0; ; attempt++ {
					start := time.Now()
					err := p.write(t, fmt.Sprintf(`{"id":%d,"s":"m%d"}`, i, i))
					if d := int64(time.Since(start)); d > slowest.Load() {
						slowest.Store(d)
					}
					if err == nil {
						break
					}
					if attempt > 100 {
						errs <- err
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				sent <- i
				time.Sleep(2 * time.Millisecond)
			}
		}(w)
	}
	// Stop the server once some rows are in, start it again 2 s later.
	for len(sent) < n/4 {
		time.Sleep(10 * time.Millisecond)
	}
	srv.stop()
	time.Sleep(2 * time.Second)
	srv.start()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := chClient(t, srv.addr, "SELECT uniqExact(id), count(), min(id), max(id) FROM default.ev")
	f := strings.Fields(got)
	if f[0] != strconv.Itoa(n) || f[2] != "0" || f[3] != strconv.Itoa(n-1) {
		t.Fatalf("after the restart: uniq, count, min, max = %v, want %d distinct ids", f, n)
	}
	if time.Duration(slowest.Load()) < time.Second {
		t.Fatalf("no write waited for the server (slowest %v): the outage was not exercised", time.Duration(slowest.Load()))
	}
	t.Logf("%s distinct ids, %s rows (duplicates are allowed: at least once); slowest write %v", f[0], f[1], time.Duration(slowest.Load()))
}

// Dropping the table fails the messages with an error naming the table and
// the server's code; once it is created again (with other columns) the
// output re-reads the schema and writes.
func TestTableDroppedAndRecreated(t *testing.T) {
	addr := serverAddr(t)
	db := testDB(t, addr)
	chClient(t, addr, "CREATE TABLE "+db+".t (id UInt64, a String) ENGINE = MergeTree ORDER BY id")
	o := newOutput(t, fmt.Sprintf("addr: [ %s ]\ndatabase: %s\ntable: t\nretry: { max_retries: 1, initial_interval: 10ms }\n", addr, db))
	if f := o.writeStrings(`{"id":1,"a":"x"}`); len(f) > 0 {
		t.Fatal(f)
	}
	chClient(t, addr, "DROP TABLE "+db+".t")
	f := o.writeStrings(`{"id":2,"a":"y"}`, `{"id":3,"a":"z"}`)
	if len(f) != 2 || !strings.Contains(f[0], "`"+db+"`.`t`") || !strings.Contains(f[0], "60") {
		t.Fatalf("writing to a dropped table: %v", f)
	}
	chClient(t, addr, "CREATE TABLE "+db+".t (id UInt64, b Nullable(String), a String) ENGINE = MergeTree ORDER BY id")
	if f := o.writeStrings(`{"id":2,"a":"y","b":"new"}`, `{"id":3,"a":"z"}`); len(f) > 0 {
		t.Fatal(f)
	}
	if got := chClient(t, addr, "SELECT id, a, b FROM "+db+".t ORDER BY id FORMAT TSV"); got != "2\ty\tnew\n3\tz\t\\N\n" {
		t.Fatalf("table after re-creation:\n%s", got)
	}
}

// A column added while the output runs is filled from the next batch that
// carries its field.
func TestColumnAddedWhileRunning(t *testing.T) {
	addr := serverAddr(t)
	db := testDB(t, addr)
	chClient(t, addr, "CREATE TABLE "+db+".t (id UInt64) ENGINE = MergeTree ORDER BY id")
	o := newOutput(t, fmt.Sprintf("addr: [ %s ]\ndatabase: %s\ntable: t\n", addr, db))
	if f := o.writeStrings(`{"id":1,"extra":"lost"}`); len(f) > 0 {
		t.Fatal(f)
	}
	chClient(t, addr, "ALTER TABLE "+db+".t ADD COLUMN extra String")
	time.Sleep(1100 * time.Millisecond) // unknown fields re-read a schema older than 1 s
	if f := o.writeStrings(`{"id":2,"extra":"kept"}`); len(f) > 0 {
		t.Fatal(f)
	}
	if got := chClient(t, addr, "SELECT id, extra FROM "+db+".t ORDER BY id FORMAT TSV"); got != "1\t\n2\tkept\n" {
		t.Fatalf("got\n%s", got)
	}
	// A column dropped while running: the INSERT's column list is stale;
	// the output re-reads the schema and writes the remaining columns.
	chClient(t, addr, "ALTER TABLE "+db+".t DROP COLUMN extra")
	if f := o.writeStrings(`{"id":3,"extra":"gone"}`); len(f) > 0 {
		t.Fatal(f)
	}
	if got := chClient(t, addr, "SELECT count() FROM "+db+".t WHERE id = 3"); got != "1\n" {
		t.Fatalf("row 3: %s", got)
	}
}

// A column's type changed on the server (ALTER ... MODIFY COLUMN, or the
// table recreated): the next write re-reads the schema when the driver
// refuses the cached type's values and succeeds at once, without waiting
// for schema_refresh_interval.
func TestColumnTypeChangedWhileRunning(t *testing.T) {
	addr := serverAddr(t)
	db := testDB(t, addr)
	chClient(t, addr, "CREATE TABLE "+db+".t (id UInt64, v UInt32) ENGINE = MergeTree ORDER BY id")
	o := newOutput(t, fmt.Sprintf("addr: [ %s ]\ndatabase: %s\ntable: t\nschema_refresh_interval: 1h\n", addr, db))
	if f := o.writeStrings(`{"id":1,"v":5}`); len(f) > 0 {
		t.Fatal(f)
	}
	chClient(t, addr, "ALTER TABLE "+db+".t MODIFY COLUMN v String")
	if f := o.writeStrings(`{"id":2,"v":7}`, `{"id":3,"v":"text"}`); len(f) > 0 {
		t.Fatalf("after MODIFY COLUMN: %v", f)
	}
	if got := chClient(t, addr, "SELECT id, v FROM "+db+".t ORDER BY id FORMAT TSV"); got != "1\t5\n2\t7\n3\ttext\n" {
		t.Fatalf("after MODIFY COLUMN:\n%s", got)
	}
	chClient(t, addr, "DROP TABLE "+db+".t")
	chClient(t, addr, "CREATE TABLE "+db+".t (id UInt64, v Float64) ENGINE = MergeTree ORDER BY id")
	if f := o.writeStrings(`{"id":4,"v":8}`); len(f) > 0 {
		t.Fatalf("after re-creation as Float64: %v", f)
	}
	if got := chClient(t, addr, "SELECT id, v FROM "+db+".t ORDER BY id FORMAT TSV"); got != "4\t8\n" {
		t.Fatalf("got\n%s", got)
	}
}

// The server rejects the rows of one message (a DEFAULT expression throws
// for it): only that message fails, with the server's error; the others
// of its block are written.
func TestServerRejectsOneMessage(t *testing.T) {
	addr := serverAddr(t)
	db := testDB(t, addr)
	chClient(t, addr, "CREATE TABLE "+db+".t (id UInt64, chk UInt8 DEFAULT throwIf(id = 13)) ENGINE = MergeTree ORDER BY id")
	o := newOutput(t, fmt.Sprintf("addr: [ %s ]\ndatabase: %s\ntable: t\n", addr, db))
	var payloads []string
	for i := 0; i < 20; i++ {
		payloads = append(payloads, fmt.Sprintf(`{"id":%d}`, i))
	}
	f := o.writeStrings(payloads...)
	if len(f) != 1 || !strings.Contains(f[13], "395") || !strings.Contains(f[13], "throwIf") || !strings.Contains(f[13], "`"+db+"`.`t`") {
		t.Fatalf("failures: %v", f)
	}
	if got := chClient(t, addr, "SELECT count(), sum(id) FROM "+db+".t FORMAT TSV"); got != "19\t177\n" {
		t.Fatalf("got %s", got)
	}
}

// A message whose value does not fit its column fails alone, with an
// error naming the message, the row and the column; the batch's others are
// written. Unknown and missing field policies, ndjson, catch-all and
// Bloblang column overrides behave as documented.
func TestPerMessageErrorsAndPolicies(t *testing.T) {
	addr := serverAddr(t)
	db := testDB(t, addr)
	chClient(t, addr, "CREATE TABLE "+db+".t (id UInt64, n Int8, s String, src String, extra String) ENGINE = MergeTree ORDER BY id")
	o := newOutput(t, fmt.Sprintf(`
addr: [ %s ]
database: %s
table: t
payload_format: ndjson
unknown_fields: catch_all
catch_all_column: extra
missing_fields: error
columns:
  src: '"row:" + this.id.string()'
`, addr, db))
	f := o.writeStrings(
		"{\"id\":1,\"n\":1,\"s\":\"a\",\"x\":true}\n{\"id\":2,\"n\":2,\"s\":\"b\"}",
		"{\"id\":3,\"n\":3,\"s\":\"c\"}\n{\"id\":4,\"n\":\"not a number\",\"s\":\"d\"}",
		"{\"id\":5,\"s\":\"e\"}",
		"{\"id\":6,\"n\":-6,\"s\":\"f\"}",
	)
	if len(f) != 2 || !strings.Contains(f[1], "message 1") || !strings.Contains(f[1], `row 2 (line 2): column "n"`) ||
		!strings.Contains(f[2], `column "n": field is missing`) {
		t.Fatalf("failures: %v", f)
	}
	got := chClient(t, addr, "SELECT id, n, s, src, extra FROM "+db+".t ORDER BY id FORMAT TSV")
	if want := "1\t1\ta\trow:1\t{\"x\":true}\n2\t2\tb\trow:2\t{}\n6\t-6\tf\trow:6\t{}\n"; got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// create_table makes a missing table from the first batch.
func TestCreateTable(t *testing.T) {
	addr := serverAddr(t)
	db := testDB(t, addr)
	o := newOutput(t, fmt.Sprintf(`
addr: [ %s ]
database: %s
table: '${! meta("kind") }'
create_table: { enabled: true, order_by: "(host, ts)" }
`, addr, db))
	b := service.MessageBatch{
		service.NewMessage([]byte(`{"ts":"2024-01-01T00:00:00Z","host":"a","n":1,"tags":["x","y"],"v":0.5,"ok":true}`)),
		service.NewMessage([]byte(`{"ts":"2024-01-01T00:00:01Z","host":"b","n":2,"tags":[]}`)),
		service.NewMessage([]byte(`{"id":7,"host":"c","ts":"2024-01-01T00:00:02Z"}`)),
	}
	b[0].MetaSetMut("kind", "metrics")
	b[1].MetaSetMut("kind", "metrics")
	b[2].MetaSetMut("kind", "other")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	idx := b.Index()
	if f := failedIndexes(o.WriteBatch(ctx, b), b, idx); len(f) > 0 {
		t.Fatal(f)
	}
	if got := chClient(t, addr, "SELECT * FROM "+db+".metrics ORDER BY ts FORMAT TSV"); got != "2024-01-01 00:00:00\ta\t1\t['x','y']\t0.5\t1\n2024-01-01 00:00:01\tb\t2\t[]\t\\N\t\\N\n" {
		t.Fatalf("metrics:\n%s", got)
	}
	if got := chClient(t, addr, "SELECT * FROM "+db+".other FORMAT TSV"); got != "7\tc\t2024-01-01 00:00:02\n" {
		t.Fatalf("other:\n%s", got)
	}
}

// Options the server is too old for fail at connect, naming its version;
// an unreachable server fails Connect with the address.
func TestConnectFailures(t *testing.T) {
	addr := serverAddr(t)
	for opt, need := range map[string]string{"async_insert: true": "21.11", "deduplication_token: content": "22.2"} {
		conf, err := clickhouseAsyncOutputSpec().ParseYAML(fmt.Sprintf("addr: [ %s ]\ntable: t\n%s\n", addr, opt), nil)
		must(t, err)
		oc, err := outputConfigFromParsed(conf)
		must(t, err)
		o := newClickhouseAsyncOutput(oc, service.MockResources())
		err = o.Connect(context.Background())
		version := strings.TrimSpace(chClient(t, addr, "SELECT version()"))
		if strings.HasPrefix(version, "18.") && (err == nil || !strings.Contains(err.Error(), version) || !strings.Contains(err.Error(), need)) {
			t.Fatalf("%s on a %s server: %v", opt, version, err)
		}
	}
	conf, err := clickhouseAsyncOutputSpec().ParseYAML("addr: [ 127.0.0.1:1 ]\ntable: t\ndial_timeout: 1s\n", nil)
	must(t, err)
	oc, err := outputConfigFromParsed(conf)
	must(t, err)
	err = newClickhouseAsyncOutput(oc, service.MockResources()).Connect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("unreachable server: %v", err)
	}
}

func TestSinkMessageReadsDanubePosition(t *testing.T) {
	msg := service.NewMessage([]byte(`{}`))
	if m := sinkMessage(msg, nil); m.HasOffset {
		t.Fatalf("no metadata: %+v", m)
	}
	msg.MetaSetMut("danube_topic", "/default/events")
	msg.MetaSetMut("danube_offset", "12345")
	if m := sinkMessage(msg, nil); !m.HasOffset || m.Topic != "/default/events" || m.Offset != 12345 {
		t.Fatalf("with metadata: %+v", m)
	}
	msg.MetaSetMut("danube_offset", "not a number")
	if m := sinkMessage(msg, nil); m.HasOffset {
		t.Fatalf("bad offset: %+v", m)
	}
}

// Every compression method writes the same rows.
func TestCompressionMethods(t *testing.T) {
	addr := serverAddr(t)
	db := testDB(t, addr)
	chClient(t, addr, "CREATE TABLE "+db+".t (id UInt64, s String) ENGINE = MergeTree ORDER BY id")
	for i, c := range []string{"lz4", "lz4hc", "zstd", "none", "zstd\ncompression_level: 3"} {
		o := newOutput(t, fmt.Sprintf("addr: [ %s ]\ndatabase: %s\ntable: t\ncompression: %s\n", addr, db, c))
		if f := o.writeStrings(fmt.Sprintf(`{"id":%d,"s":"%s"}`, i, strings.Repeat("x", 1000))); len(f) > 0 {
			t.Fatalf("%s: %v", c, f)
		}
	}
	if got := chClient(t, addr, "SELECT count(), sum(length(s)) FROM "+db+".t FORMAT TSV"); got != "5\t5000\n" {
		t.Fatal(got)
	}
}
