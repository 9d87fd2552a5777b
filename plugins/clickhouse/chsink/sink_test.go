package chsink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// fakeConn is a driver.Conn whose batches are real native blocks; Send
// records the encoded bytes and fails with the queued errors first.
type fakeConn struct {
	driver.Conn
	mu       sync.Mutex
	types    map[string]string // column → type of the one table
	failures []error
	sent     [][]byte // encoded blocks, one per Send attempt
	queries  []string
	// reject, when set, is the server's verdict on a block after the
	// queued failures.
	reject    func(*proto.Block) error
	describes int
}

// Query answers DESCRIBE TABLE from types (sorted by name).
func (c *fakeConn) Query(_ context.Context, query string, _ ...any) (driver.Rows, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !strings.HasPrefix(query, "DESCRIBE TABLE ") {
		return nil, fmt.Errorf("unexpected query %q", query)
	}
	c.describes++
	rows := &fakeRows{}
	for name, typ := range c.types {
		rows.rows = append(rows.rows, [3]string{name, typ, ""})
	}
	sort.Slice(rows.rows, func(i, j int) bool { return rows.rows[i][0] < rows.rows[j][0] })
	return rows, nil
}

func (c *fakeConn) setType(col, typ string) {
	c.mu.Lock()
	c.types[col] = typ
	c.mu.Unlock()
}

type fakeRows struct {
	driver.Rows
	rows [][3]string
	next int
}

func (r *fakeRows) Columns() []string {
	return []string{"name", "type", "default_type", "default_expression"}
}
func (r *fakeRows) Next() bool   { r.next++; return r.next <= len(r.rows) }
func (r *fakeRows) Err() error   { return nil }
func (r *fakeRows) Close() error { return nil }
func (r *fakeRows) Scan(dest ...any) error {
	row := r.rows[r.next-1]
	for i, d := range dest {
		if i < len(row) {
			*d.(*string) = row[i]
		} else {
			*d.(*string) = ""
		}
	}
	return nil
}

var insertCols = regexp.MustCompile(`^INSERT INTO \S+ \((.*)\)$`)

func (c *fakeConn) PrepareBatch(_ context.Context, query string, _ ...driver.PrepareBatchOption) (driver.Batch, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queries = append(c.queries, query)
	m := insertCols.FindStringSubmatch(query)
	if m == nil {
		return nil, fmt.Errorf("bad query %q", query)
	}
	blk := proto.NewBlock()
	blk.ServerContext = modernServer
	for _, name := range strings.Split(m[1], ", ") {
		name = strings.Trim(name, "`")
		if err := blk.AddColumn(name, column.Type(c.types[name])); err != nil {
			return nil, err
		}
	}
	return &fakeBatch{conn: c, blk: blk}, nil
}

func (c *fakeConn) Close() error { return nil }

type panickingConn struct{ fakeConn }

func (c *panickingConn) PrepareBatch(context.Context, string, ...driver.PrepareBatchOption) (driver.Batch, error) {
	panic("runtime error: slice bounds out of range")
}

func TestDriverPanicFailsTheBlockNotTheProcess(t *testing.T) {
	conn := &panickingConn{fakeConn{types: map[string]string{"id": "UInt64"}}}
	s, _ := newTestSink(t, &conn.fakeConn, Options{}, modernVersion)
	s.conn = conn
	errs := s.Write(context.Background(), msgs(`{"id":1}`), group(1))
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "driver panicked") {
		t.Fatalf("got %v", errs[0])
	}
	// Neither a schema re-read nor a split can help.
	if c := Classify(errs[0]); c != ClassFatal || isolatable(errs[0]) {
		t.Fatalf("class %v, isolatable %v", c, isolatable(errs[0]))
	}
}

type fakeBatch struct {
	driver.Batch
	conn *fakeConn
	blk  *proto.Block
}

func (b *fakeBatch) Column(i int) driver.BatchColumn { return batchColumn{b.blk.Columns[i]} }
func (b *fakeBatch) Abort() error                    { return nil }
func (b *fakeBatch) Send() error {
	var buf chproto.Buffer
	if err := b.blk.Encode(&buf, modernServer.Revision); err != nil {
		return err
	}
	b.conn.mu.Lock()
	defer b.conn.mu.Unlock()
	b.conn.sent = append(b.conn.sent, bytes.Clone(buf.Buf))
	if len(b.conn.failures) > 0 {
		err := b.conn.failures[0]
		b.conn.failures = b.conn.failures[1:]
		return err
	}
	if b.conn.reject != nil {
		return b.conn.reject(b.blk)
	}
	return nil
}

type countMetrics struct {
	mu                    sync.Mutex
	rows, blocks, retries int
	failed                map[int32]int
}

func (m *countMetrics) Inserted(_ string, rows, _ int, _ time.Duration) {
	m.mu.Lock()
	m.rows += rows
	m.blocks++
	m.mu.Unlock()
}
func (m *countMetrics) Retried(string, int32, error) { m.mu.Lock(); m.retries++; m.mu.Unlock() }
func (m *countMetrics) Failed(_ string, code int32, n int) {
	m.mu.Lock()
	if m.failed == nil {
		m.failed = map[int32]int{}
	}
	m.failed[code] += n
	m.mu.Unlock()
}

func newTestSink(t *testing.T, conn *fakeConn, o Options, v driver.ServerVersion) (*Sink, *countMetrics) {
	t.Helper()
	var rows []describeRow
	for name, typ := range conn.types {
		rows = append(rows, describeRow{name: name, typ: typ})
	}
	// Map order is random: sort for a stable column order.
	sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	sch, err := newSchema("db", "t", rows)
	if err != nil {
		t.Fatal(err)
	}
	m := &countMetrics{}
	if o.Retry.Max == 0 {
		o.Retry = Retry{MaxRetries: 5, Initial: time.Millisecond, Max: 2 * time.Millisecond}
	}
	o.Conv.MissingDefault = true
	s := newSink(conn, o, v, m)
	s.cache.put(sch)
	return s, m
}

var modernVersion = driver.ServerVersion{Name: "ClickHouse", Version: proto.Version{Major: 26, Minor: 7}, Revision: 54483, Timezone: time.UTC}

func msgs(payloads ...string) []Message {
	out := make([]Message, len(payloads))
	for i, p := range payloads {
		out[i] = Message{Payload: []byte(p)}
	}
	return out
}

func group(n int) []Group {
	g := Group{Database: "db", Table: "t"}
	for i := 0; i < n; i++ {
		g.Indexes = append(g.Indexes, i)
	}
	return []Group{g}
}

func TestRetryResendsTheIdenticalBlock(t *testing.T) {
	conn := &fakeConn{types: map[string]string{"id": "UInt64", "m": "Map(String, Int32)", "ts": "DateTime64(3)"},
		failures: []error{
			&clickhouse.Exception{Code: 252, Message: "Too many parts"},
			fmt.Errorf("write: %w", errors.New("broken pipe")), // unclassified: must not be retried
		}}
	conn.failures[1] = &clickhouse.Exception{Code: 319, Message: "Unknown status of insert"}
	s, m := newTestSink(t, conn, Options{}, modernVersion)
	batch := msgs(`{"id":1,"m":{"z":1,"a":2,"k":3},"ts":"2024-01-01T00:00:00.123Z"}`, `{"id":2,"m":{"b":5}}`)
	errs := s.Write(context.Background(), batch, group(2))
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if len(conn.sent) != 3 {
		t.Fatalf("%d send attempts, want 3", len(conn.sent))
	}
	for i := 1; i < 3; i++ {
		if !bytes.Equal(conn.sent[0], conn.sent[i]) {
			t.Fatalf("attempt %d sent a different block", i+1)
		}
	}
	if m.retries != 2 || m.rows != 2 || m.blocks != 1 {
		t.Fatalf("metrics %+v", m)
	}
	if q := conn.queries[0]; q != "INSERT INTO `db`.`t` (`id`, `m`, `ts`)" {
		t.Fatalf("query %q", q)
	}
}

// A final error about the block as a whole (not its data) fails the
// group's messages at once: no retry, no split.
func TestFatalServerErrorFailsTheGroupWithoutRetry(t *testing.T) {
	conn := &fakeConn{types: map[string]string{"id": "UInt64"},
		failures: []error{&clickhouse.Exception{Code: 497, Name: "DB::Exception", Message: "Not enough privileges"}}}
	s, m := newTestSink(t, conn, Options{}, modernVersion)
	errs := s.Write(context.Background(), msgs(`{"id":1}`, `{"id":2}`), group(2))
	if len(conn.sent) != 1 {
		t.Fatalf("%d attempts, want 1 (no retry)", len(conn.sent))
	}
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "server code 497") || !strings.Contains(err.Error(), "`db`.`t`") {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if m.failed[497] != 2 {
		t.Fatalf("failed metrics %v", m.failed)
	}
}

// blockIDs are the values of the block's column id.
func blockIDs(b *proto.Block) []uint64 {
	for _, c := range b.Columns {
		if c.Name() == "id" {
			out := make([]uint64, c.Rows())
			for i := range out {
				out[i] = c.Row(i, false).(uint64)
			}
			return out
		}
	}
	return nil
}

// A block the server rejects for the data of some messages is split at
// message boundaries until only those fail, each with the server's error;
// the others are written.
func TestServerRejectionFailsOnlyTheOffendingMessages(t *testing.T) {
	bad := map[uint64]bool{3: true, 6: true}
	conn := &fakeConn{types: map[string]string{"id": "UInt64"}}
	var written []uint64
	conn.reject = func(b *proto.Block) error {
		ids := blockIDs(b)
		for _, id := range ids {
			if bad[id] {
				return &clickhouse.Exception{Code: 395, Name: "DB::Exception", Message: "Value passed to 'throwIf' function is non zero"}
			}
		}
		written = append(written, ids...)
		return nil
	}
	s, m := newTestSink(t, conn, Options{Format: jsonrows.FormatNDJSON}, modernVersion)
	var payloads []string
	for i := 0; i < 8; i++ {
		payloads = append(payloads, fmt.Sprintf("{\"id\":%d}\n{\"id\":%d}", 2*i, 2*i+1)) // two rows per message
	}
	errs := s.Write(context.Background(), msgs(payloads...), group(8))
	for i, err := range errs {
		offending := i == 1 || i == 3 // ids 3 and 6
		if offending != (err != nil) {
			t.Fatalf("message %d: %v", i, err)
		}
		if offending && (!strings.Contains(err.Error(), "server code 395") || !strings.Contains(err.Error(), "throwIf")) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	sort.Slice(written, func(i, j int) bool { return written[i] < written[j] })
	if fmt.Sprint(written) != "[0 1 4 5 8 9 10 11 12 13 14 15]" {
		t.Fatalf("written %v", written)
	}
	if m.failed[395] != 2 || m.rows != 12 {
		t.Fatalf("metrics %+v", m)
	}
	// The block, its halves, the quarters of the bad half, the messages of
	// the two bad quarters.
	if len(conn.sent) != 1+2+2+4 {
		t.Fatalf("%d sends", len(conn.sent))
	}
}

// Splitting is bounded: when every message is rejected the work stops at
// the budget and the remaining halves fail whole.
func TestIsolationIsBounded(t *testing.T) {
	conn := &fakeConn{types: map[string]string{"id": "UInt64"}}
	conn.reject = func(*proto.Block) error { return &clickhouse.Exception{Code: 117, Message: "Incorrect data"} }
	s, m := newTestSink(t, conn, Options{}, modernVersion)
	const n = 1000
	payloads := make([]string, n)
	for i := range payloads {
		payloads[i] = fmt.Sprintf(`{"id":%d}`, i)
	}
	errs := s.Write(context.Background(), msgs(payloads...), group(n))
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "server code 117") {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if want := 1 + isolateBudget(n); len(conn.sent) != want {
		t.Fatalf("%d sends, want %d", len(conn.sent), want)
	}
	if m.failed[117] != n {
		t.Fatalf("failed %v", m.failed)
	}
}

// A column whose type changed on the server: the driver refuses the
// cached type's values; the sink re-reads the schema and rebuilds the
// block from the same messages at once.
func TestTypeChangeRereadsTheSchema(t *testing.T) {
	conn := &fakeConn{types: map[string]string{"id": "UInt64", "v": "UInt32"}}
	s, m := newTestSink(t, conn, Options{}, modernVersion)
	s.opts.SchemaRetryDelay = time.Hour // only the driver's refusal may trigger the re-read
	conn.setType("v", "String")
	errs := s.Write(context.Background(), msgs(`{"id":1,"v":7}`), group(1))
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	if conn.describes != 1 || m.rows != 1 {
		t.Fatalf("%d describes, metrics %+v", conn.describes, m)
	}
	back := proto.NewBlock()
	back.ServerContext = modernServer
	if err := back.Decode(chproto.NewReader(bytes.NewReader(conn.sent[len(conn.sent)-1])), modernServer.Revision); err != nil {
		t.Fatal(err)
	}
	if v := back.Columns[1].Row(0, false); v != "7" {
		t.Fatalf("v = %#v", v)
	}
	// A type the values cannot take even after the re-read fails the
	// message once, naming the column.
	conn.setType("v", "Float64")
	errs = s.Write(context.Background(), msgs(`{"id":2,"v":"x"}`), group(1))
	if errs[0] == nil || !strings.Contains(errs[0].Error(), `column "v"`) || conn.describes != 2 {
		t.Fatalf("%v after %d describes", errs[0], conn.describes)
	}
}

// A message the cached type refuses but the re-read one takes is written,
// not counted failed: conversion failures count once the block is settled.
func TestTypeChangeCountsNoFailureForARescuedMessage(t *testing.T) {
	conn := &fakeConn{types: map[string]string{"id": "UInt64", "v": "UInt32"}}
	s, m := newTestSink(t, conn, Options{}, modernVersion)
	s.opts.SchemaRetryDelay = time.Hour // only the driver's refusal may trigger the re-read
	conn.setType("v", "String")
	errs := s.Write(context.Background(), msgs(`{"id":1,"v":7}`, `{"id":2,"v":"text"}`), group(2))
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("errs %v", errs)
	}
	if m.rows != 2 || len(m.failed) != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestRetriesRunOut(t *testing.T) {
	conn := &fakeConn{types: map[string]string{"id": "UInt64"}}
	for i := 0; i < 10; i++ {
		conn.failures = append(conn.failures, &clickhouse.Exception{Code: 159, Message: "Timeout exceeded"})
	}
	s, _ := newTestSink(t, conn, Options{Retry: Retry{MaxRetries: 2, Initial: time.Millisecond, Max: time.Millisecond}}, modernVersion)
	errs := s.Write(context.Background(), msgs(`{"id":1}`), group(1))
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "giving up after 2 retries") || len(conn.sent) != 3 {
		t.Fatalf("err %v after %d attempts", errs[0], len(conn.sent))
	}
}

func TestBadRowFailsOnlyItsMessage(t *testing.T) {
	conn := &fakeConn{types: map[string]string{"id": "UInt8", "s": "String"}}
	s, m := newTestSink(t, conn, Options{Format: jsonrows.FormatNDJSON}, modernVersion)
	batch := msgs("{\"id\":1}\n{\"id\":2}", "{\"id\":3}\n{\"id\":300}\n{\"id\":4}", "{\"id\":5,\"s\":\"x\"}", "{not json}")
	errs := s.Write(context.Background(), batch, group(4))
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("good messages failed: %v, %v", errs[0], errs[2])
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), `row 2 (line 2): column "id": 300 is out of range of UInt8`) {
		t.Fatalf("message 1: %v", errs[1])
	}
	if errs[3] == nil || !strings.Contains(errs[3].Error(), "row 1") || !strings.Contains(errs[3].Error(), "invalid JSON") {
		t.Fatalf("message 3: %v", errs[3])
	}
	// The block holds exactly the rows of messages 0 and 2.
	back := proto.NewBlock()
	back.ServerContext = modernServer
	if err := back.Decode(chproto.NewReader(bytes.NewReader(conn.sent[0])), modernServer.Revision); err != nil {
		t.Fatal(err)
	}
	var ids []any
	for i := 0; i < back.Rows(); i++ {
		ids = append(ids, back.Columns[0].Row(i, false))
	}
	if fmt.Sprint(ids) != "[1 2 5]" || m.rows != 3 || m.failed[0] != 2 {
		t.Fatalf("ids %v, metrics %+v", ids, m)
	}
}

func TestUnknownFieldPolicies(t *testing.T) {
	conn := &fakeConn{types: map[string]string{"id": "UInt8", "extra": "String"}}
	s, _ := newTestSink(t, conn, Options{UnknownFields: UnknownCatchAll, CatchAllColumn: "extra"}, modernVersion)
	s.opts.SchemaRetryDelay = time.Hour // no schema re-read in this test
	if errs := s.Write(context.Background(), msgs(`{"id":1,"a":{"b":[1]},"c":"d"}`, `{"id":2}`), group(2)); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	back := proto.NewBlock()
	back.ServerContext = modernServer
	if err := back.Decode(chproto.NewReader(bytes.NewReader(conn.sent[0])), modernServer.Revision); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%v %v", back.Columns[0].Row(0, false), back.Columns[0].Row(1, false)); got != `{"a":{"b":[1]},"c":"d"} {}` {
		t.Fatalf("catch-all column: %s", got)
	}

	conn2 := &fakeConn{types: map[string]string{"id": "UInt8"}}
	s2, _ := newTestSink(t, conn2, Options{UnknownFields: UnknownError}, modernVersion)
	s2.opts.SchemaRetryDelay = time.Hour
	errs := s2.Write(context.Background(), msgs(`{"id":1,"zz":2}`, `{"id":2}`), group(2))
	if errs[0] == nil || !strings.Contains(errs[0].Error(), `field "zz" has no column`) || errs[1] != nil {
		t.Fatal(errs)
	}
}

func TestSettingsAndTokens(t *testing.T) {
	conn := &fakeConn{types: map[string]string{"id": "UInt8"}}
	s, _ := newTestSink(t, conn, Options{AsyncInsert: true, WaitAsyncInsert: true, Dedup: DedupOffsets}, modernVersion)
	batch := msgs(`{"id":1}`, `{"id":2}`, `{"id":3}`)
	for i := range batch {
		batch[i].Topic, batch[i].Offset, batch[i].HasOffset = "/default/ev", uint64(40+i), true
	}
	st := s.settingsFor("`db`.`t`", batch, []int{0, 2})
	if st != (insertSettings{Async: true, Wait: true, Token: "danube:/default/ev:40-42:2:`db`.`t`"}) {
		t.Fatalf("settings %+v", st)
	}
	batch[1].HasOffset = false
	st = s.settingsFor("`db`.`t`", batch, []int{0, 1})
	if !strings.HasPrefix(st.Token, "sha256:") {
		t.Fatalf("fallback token %q", st.Token)
	}
	// Content tokens depend on the table and every payload byte, in order.
	a := contentToken("`db`.`t`", batch, []int{0, 1})
	for _, other := range []string{contentToken("`db`.`u`", batch, []int{0, 1}), contentToken("`db`.`t`", batch, []int{1, 0}), contentToken("`db`.`t`", batch, []int{0})} {
		if other == a {
			t.Fatal("content token collision")
		}
	}
	if a != contentToken("`db`.`t`", batch, []int{0, 1}) {
		t.Fatal("content token is not deterministic")
	}
	s.opts.AsyncInsert, s.opts.Dedup = false, DedupNone
	if st := s.settingsFor("x", batch, []int{0}); st != (insertSettings{}) {
		t.Fatalf("plain insert sends settings %+v", st)
	}
}

func TestFeaturesGatedOnServerVersion(t *testing.T) {
	at := func(major, minor uint64) driver.ServerVersion {
		return driver.ServerVersion{Name: "ClickHouse", Version: proto.Version{Major: major, Minor: minor, Patch: 1}, Revision: 54412}
	}
	for _, tc := range []struct {
		v    driver.ServerVersion
		o    Options
		want []string // substrings of the error; none for no error
	}{
		{at(18, 16), Options{}, nil},
		{at(18, 16), Options{AsyncInsert: true}, []string{"async_insert needs ClickHouse 21.11", "18.16.1"}},
		{at(18, 16), Options{Dedup: DedupContent}, []string{"deduplication_token needs ClickHouse 22.2", "18.16.1"}},
		{at(21, 11), Options{AsyncInsert: true}, nil},
		// The token arrived after async inserts: 21.11 takes one, not the other.
		{at(21, 11), Options{AsyncInsert: true, Dedup: DedupOffsets}, []string{"deduplication_token needs ClickHouse 22.2", "21.11.1"}},
		{at(22, 1), Options{Dedup: DedupContent}, []string{"22.2"}},
		{at(22, 2), Options{AsyncInsert: true, Dedup: DedupOffsets}, nil},
		{at(23, 0), Options{AsyncInsert: true, Dedup: DedupContent}, nil},
	} {
		err := checkFeatures(&tc.o, tc.v)
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%v %+v: %v", tc.v.Version, tc.o, err)
			}
			continue
		}
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v %+v: %v, want %q", tc.v.Version, tc.o, err, w)
			}
		}
	}
}

func TestClassify(t *testing.T) {
	for err, want := range map[error]ErrClass{
		&clickhouse.Exception{Code: 252}:                                               ClassRetry,
		&clickhouse.Exception{Code: 159}:                                               ClassRetry,
		&clickhouse.Exception{Code: 241}:                                               ClassRetry,
		&clickhouse.Exception{Code: 60}:                                                ClassSchema,
		&clickhouse.Exception{Code: 16}:                                                ClassSchema,
		&clickhouse.Exception{Code: 53}:                                                ClassSchema,
		&clickhouse.Exception{Code: 27}:                                                ClassFatal,
		&clickhouse.Exception{Code: 117}:                                               ClassFatal,
		&clickhouse.Exception{Code: 115}:                                               ClassFatal,
		fmt.Errorf("x: %w", clickhouse.ErrAcquireConnTimeout):                          ClassRetry,
		fmt.Errorf("dial: %w", errors.New("some parse problem")):                       ClassFatal,
		context.Canceled:                                                               ClassFatal,
		context.DeadlineExceeded:                                                       ClassRetry,
		errors.New("block cannot be sorted - missing columns in requested order: [x]"): ClassSchema,
	} {
		if got := Classify(err); got != want {
			t.Errorf("%v: %v, want %v", err, got, want)
		}
	}
}

func TestBackoffJitter(t *testing.T) {
	r := Retry{Initial: 100 * time.Millisecond, Max: time.Second}
	for n, hi := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		hi *= time.Millisecond
		for i := 0; i < 50; i++ {
			if d := r.backoff(n); d < hi/2 || d > hi {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, hi/2, hi)
			}
		}
	}
}

// Every column type of a modern server (the chDB 26.7 fixture) gets a
// builder, and its default value encodes in the driver's column.
func TestModernSchemaBuildsAndEncodesDefaults(t *testing.T) {
	f, err := os.Open("../chtype/testdata/describe_chdb_26.7.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []describeRow
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		var r []string
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if first {
			continue
		}
		if r[0] == "e8" {
			// The driver's Enum parser panics on the escaped quote in
			// 'it\'s' (our parser's test covers that name).
			r[1] = "Enum8('its' = -3, 'a' = 1, 'b c' = 2)"
		}
		rows = append(rows, describeRow{name: r[0], typ: r[1], defaultKind: r[2]})
	}
	sch, err := newSchema("db", "t", rows[:len(rows)-2]) // the last two are a second table
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sch.byName["ts_mat"]; ok {
		t.Fatal("MATERIALIZED column kept")
	}
	if _, ok := sch.byName["al"]; ok {
		t.Fatal("ALIAS column kept")
	}
	if sch.Unwritable["var"] == "" || sch.Unwritable["dyn"] == "" {
		t.Fatalf("unwritable %v", sch.Unwritable)
	}
	if len(sch.nested["nest"]) != 2 {
		t.Fatalf("nested %v", sch.nested)
	}
	blk, err := newBlock(sch, &blockOptions{conv: ConvOptions{MissingDefault: true, Location: time.UTC}})
	if err != nil {
		t.Fatal(err)
	}
	var p = new(fastjsonParser)
	if err := blk.addRow(p.parse(t, `{"nest":[{"k":"a","v":1},{"k":"b","v":2}],"j":{"x":1}}`), nil); err != nil {
		t.Fatal(err)
	}
	pb := proto.NewBlock()
	pb.ServerContext = modernServer
	cols := blk.sendColumns()
	for _, i := range cols {
		if err := pb.AddColumn(sch.Columns[i].Name, column.Type(sch.Columns[i].Type.Raw)); err != nil {
			t.Fatalf("%s: %v", sch.Columns[i].Type.Raw, err)
		}
	}
	for j, i := range cols {
		if err := blk.cols[i].appendTo(batchColumn{pb.Columns[j]}); err != nil {
			t.Fatalf("column %s %s: %v", sch.Columns[i].Name, sch.Columns[i].Type.Raw, err)
		}
	}
	back := roundTrip(t, pb)
	got := map[string]string{}
	for j, i := range cols {
		got[sch.Columns[i].Name] = show(back.Columns[j].Row(0, false))
	}
	for name, want := range map[string]string{"nest.k": "[a b]", "nest.v": "[1 2]", "i256": "0", "dt": "1970-01-01T00:00:00Z", "n": "NULL", "e8": "its"} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
	if _, ok := got["def"]; ok {
		t.Error("DEFAULT column no row set was sent")
	}
}
