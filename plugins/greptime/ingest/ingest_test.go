package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	gpb "github.com/GreptimeTeam/greptime-proto/go/greptime/v1"
	"google.golang.org/grpc/codes"

	"github.com/danube-connect/danube-connect/internal/testnet"
	"github.com/danube-connect/danube-connect/plugins/greptime/greptimetest"
	"github.com/danube-connect/danube-connect/plugins/greptime/mapping"
)

type counter struct {
	mu       sync.Mutex
	requests int
	retries  []string
	errs     []string
}

func (c *counter) Request(_ string, _ time.Duration, err *Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	if err != nil {
		c.errs = append(c.errs, err.Label())
	}
}

func (c *counter) Retry(_ string, err *Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.retries = append(c.retries, err.Label())
}

func startDouble(t *testing.T, opts ...greptimetest.Option) *greptimetest.Server {
	t.Helper()
	s, err := greptimetest.Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func dial(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.Database == "" {
		cfg.Database = "public"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// epoch is the time of the rows: recent, as a real server may drop rows
// older than a table's TTL.
var epoch = time.Now().Add(-time.Hour).Truncate(time.Second)

// rows maps JSON rows (one message each) into tables.
func rows(t *testing.T, table string, msgs ...string) ([]string, []Rows, []*mapping.Table) {
	t.Helper()
	m, err := mapping.New(mapping.Config{Tags: []mapping.Column{{Path: "host"}}})
	if err != nil {
		t.Fatal(err)
	}
	b := m.NewBatch()
	for i, msg := range msgs {
		b.Begin(i)
		tb, row, _ := strings.Cut(msg, "|")
		if row == "" {
			tb, row = table, msg
		}
		if err := b.AddRow(tb, []byte(row), epoch.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	var rs []Rows
	for _, tb := range b.Tables() {
		names = append(names, tb.Name)
		rs = append(rs, tb)
	}
	return names, rs, b.Tables()
}

func fastBackoff(n int) Backoff {
	return Backoff{MaxRetries: n, Initial: time.Millisecond, Max: 5 * time.Millisecond}
}

func TestClassification(t *testing.T) {
	cases := []struct {
		err  Error
		want Class
	}{
		{Error{Code: codes.Unavailable}, ClassRetry},
		{Error{Code: codes.ResourceExhausted}, ClassRetry},
		{Error{Code: codes.Aborted}, ClassRetry},
		{Error{Code: codes.Unknown}, ClassRetry},
		{Error{Code: codes.Unavailable, GreptimeCode: 4008}, ClassRetry},
		{Error{Code: codes.ResourceExhausted, GreptimeCode: 4009}, ClassRetry},
		{Error{Code: codes.Unavailable, GreptimeCode: 4010}, ClassRetry},
		{Error{Code: codes.Unavailable, GreptimeCode: 5000}, ClassRetry},
		{Error{Code: codes.ResourceExhausted, GreptimeCode: 6000}, ClassRetry},
		{Error{InStatus: true, GreptimeCode: 4008}, ClassRetry},
		// The trailer decides over the coarse gRPC code.
		{Error{Code: codes.ResourceExhausted, GreptimeCode: 6001}, ClassBatch},
		{Error{Code: codes.Internal, GreptimeCode: 1003}, ClassBatch},
		{Error{Code: codes.InvalidArgument, GreptimeCode: 1004}, ClassRows},
		{Error{Code: codes.NotFound, GreptimeCode: 4001}, ClassRows},
		{Error{Code: codes.InvalidArgument}, ClassRows},
		{Error{Code: codes.Unauthenticated, GreptimeCode: 7000}, ClassBatch},
		{Error{Code: codes.Unauthenticated}, ClassBatch},
		{Error{Code: codes.PermissionDenied}, ClassBatch},
		{Error{Code: codes.NotFound, GreptimeCode: 4004}, ClassBatch},
		{Error{Code: codes.DeadlineExceeded}, ClassBatch},
		{Error{Code: codes.Canceled}, ClassBatch},
		{Error{Mismatch: true}, ClassBatch},
	}
	for _, c := range cases {
		if got := c.err.Class(); got != c.want {
			t.Errorf("%v: class %d want %d", &c.err, got, c.want)
		}
	}
	if ClassOf(context.Canceled) != ClassBatch {
		t.Error("context error not Batch")
	}
}

func TestRetriesEachRetryableCode(t *testing.T) {
	s := startDouble(t)
	c := dial(t, Config{Addr: s.Addr()})
	faults := []greptimetest.Fault{
		{Code: codes.Unavailable, GreptimeCode: 4008, Msg: "region not ready"},
		{Code: codes.ResourceExhausted, GreptimeCode: 4009, Msg: "region busy"},
		{Code: codes.Unavailable, GreptimeCode: 4010, Msg: "table unavailable"},
		{Code: codes.Unavailable, GreptimeCode: 5000, Msg: "storage unavailable"},
		{Code: codes.ResourceExhausted, GreptimeCode: 6000, Msg: "runtime resources exhausted"},
		{Code: codes.Unavailable, Msg: "no code"},
		{Code: codes.ResourceExhausted},
		{Code: codes.Aborted},
		{Code: codes.Unknown},
		{Code: codes.OK, GreptimeCode: 4009, Msg: "busy, in the response header"},
	}
	for i, f := range faults {
		obs := &counter{}
		w := &Writer{Client: c, Backoff: fastBackoff(3), Obs: obs}
		s.FailNext(2, f)
		names, rs, _ := rows(t, "retry", `{"host":"a","v":1}`, `{"host":"b","v":2}`)
		res, err := w.Write(context.Background(), names, rs)
		if err != nil || len(res.Failed) > 0 {
			t.Fatalf("fault %d %+v: %v %v", i, f, err, res.Failed)
		}
		if obs.requests != 3 || len(obs.retries) != 2 {
			t.Errorf("fault %d: %d requests, retries %v", i, obs.requests, obs.retries)
		}
		if f.GreptimeCode != 0 && obs.retries[0] != itoa(f.GreptimeCode) {
			t.Errorf("fault %d: retry labelled %s, want the trailer code", i, obs.retries[0])
		}
	}
	if n := s.Table("", "retry").Len(); n != 2 {
		t.Errorf("stored %d rows, want 2 (retries overwrite)", n)
	}
}

func itoa(n int) string { return (&Error{GreptimeCode: n}).Label() }

func TestNoRetryOfPermanentErrors(t *testing.T) {
	s := startDouble(t)
	c := dial(t, Config{Addr: s.Addr()})
	for _, f := range []greptimetest.Fault{
		{Code: codes.Unauthenticated, GreptimeCode: 7000, Msg: "user not found"},
		{Code: codes.ResourceExhausted, GreptimeCode: 6001, Msg: "rate limited"},
		{Code: codes.Internal, GreptimeCode: 1003, Msg: "internal"},
		{Code: codes.OK, GreptimeCode: 4004, Msg: "database not found, in the header"},
		{WrongAffected: true},
	} {
		obs := &counter{}
		w := &Writer{Client: c, Backoff: fastBackoff(3), Obs: obs}
		s.FailNext(1, f)
		names, rs, _ := rows(t, "perm", `{"host":"a","v":1}`)
		_, err := w.Write(context.Background(), names, rs)
		if err == nil || obs.requests != 1 {
			t.Fatalf("%+v: err %v after %d requests", f, err, obs.requests)
		}
		if !strings.Contains(err.Error(), "table perm") {
			t.Errorf("error does not name the table: %v", err)
		}
		if f.Msg != "" && !strings.Contains(err.Error(), f.Msg) {
			t.Errorf("error lacks the server's message: %v", err)
		}
	}
}

func TestRetriesAreBounded(t *testing.T) {
	s := startDouble(t)
	c := dial(t, Config{Addr: s.Addr()})
	obs := &counter{}
	w := &Writer{Client: c, Backoff: fastBackoff(2), Obs: obs}
	s.FailNext(10, greptimetest.Fault{Code: codes.Unavailable, GreptimeCode: 4008, Msg: "not ready"})
	names, rs, _ := rows(t, "bounded", `{"host":"a","v":1}`)
	_, err := w.Write(context.Background(), names, rs)
	if err == nil || !strings.Contains(err.Error(), "after 3 attempts") || obs.requests != 3 {
		t.Fatalf("err %v, %d requests", err, obs.requests)
	}
	if ClassOf(err) != ClassRetry {
		t.Errorf("class of exhausted retries %d", ClassOf(err))
	}
	// A cancelled context ends the backoff.
	s.FailNext(100, greptimetest.Fault{Code: codes.Unavailable})
	w.Backoff = Backoff{MaxRetries: 100, Initial: time.Second, Max: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := w.Write(ctx, names, rs); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("cancelled write: %v after %v", err, time.Since(start))
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	for n := 0; n < 10; n++ {
		cap := min(b.Initial<<n, b.Max)
		for i := 0; i < 100; i++ {
			if d := b.delay(n); d <= 0 || d > cap {
				t.Fatalf("delay(%d) = %v outside (0, %v]", n, d, cap)
			}
		}
	}
}

func TestRejectedRowsAreIsolated(t *testing.T) {
	tg := greptimetest.NewTarget(t)
	sensors, other := tg.Table("sensors"), tg.Table("other")
	c := dial(t, Config{Addr: tg.Addr, Username: tg.Username, Password: tg.Password})
	obs := &counter{}
	w := &Writer{Client: c, Backoff: fastBackoff(3), Obs: obs}
	// The table exists with mode as int64 (written by another writer):
	// messages sending a string mode are rejected by the server; all other
	// rows must be written.
	names, rs, _ := rows(t, "", sensors+`|{"host":"seed","mode":1}`)
	if _, err := w.Write(context.Background(), names, rs); err != nil {
		t.Fatal(err)
	}
	obs.requests = 0
	var msgs []string
	for i := 0; i < 20; i++ {
		switch {
		case i == 3 || i == 17:
			msgs = append(msgs, sensors+`|{"host":"h`+itoa(i)+`","temp":1.5,"mode":"eco"}`)
		case i%2 == 0:
			msgs = append(msgs, sensors+`|{"host":"h`+itoa(i)+`","temp":1.5}`)
		default:
			msgs = append(msgs, other+`|{"host":"h`+itoa(i)+`","v":1}`)
		}
	}
	names, rs, _ = rows(t, "", msgs...)
	res, err := w.Write(context.Background(), names, rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 2 || res.Failed[3] == nil || res.Failed[17] == nil {
		t.Fatalf("failed %v, want messages 3 and 17", res.Failed)
	}
	if e := res.Failed[3].Error(); !strings.Contains(e, "table "+sensors) || !strings.Contains(e, "mode") || !strings.Contains(e, "1004") {
		t.Errorf("rejection does not carry table and server error: %s", e)
	}
	if n := tg.Count(t, "", sensors); n != 11 {
		t.Errorf("sensors has %d rows, want 11 (the seed and 10)", n)
	}
	if n := tg.Count(t, "", other); n != 8 {
		t.Errorf("other has %d rows, want 8", n)
	}
	if obs.requests > 20 {
		t.Errorf("%d requests to isolate 2 of 20 messages", obs.requests)
	}
}

func TestTimeIndexAndSemanticRules(t *testing.T) {
	tg := greptimetest.NewTarget(t)
	rules, fresh := tg.Table("rules"), tg.Table("fresh")
	c := dial(t, Config{Addr: tg.Addr, Username: tg.Username, Password: tg.Password})
	w := &Writer{Client: c, Backoff: fastBackoff(0)}
	names, rs, _ := rows(t, rules, `{"host":"a","v":1}`)
	if _, err := w.Write(context.Background(), names, rs); err != nil {
		t.Fatal(err)
	}
	// host as a field, a second time index and another time index name are
	// all rejected, by the double as by GreptimeDB.
	bad := []*gpb.RowInsertRequest{
		{TableName: rules, Rows: &gpb.Rows{Schema: []*gpb.ColumnSchema{
			{ColumnName: "ts", Datatype: gpb.ColumnDataType_TIMESTAMP_MILLISECOND, SemanticType: gpb.SemanticType_TIMESTAMP},
			{ColumnName: "host", Datatype: gpb.ColumnDataType_STRING, SemanticType: gpb.SemanticType_FIELD}},
			Rows: []*gpb.Row{{Values: []*gpb.Value{{ValueData: &gpb.Value_TimestampMillisecondValue{TimestampMillisecondValue: epoch.UnixMilli()}}, {ValueData: &gpb.Value_StringValue{StringValue: "x"}}}}}}},
		{TableName: rules, Rows: &gpb.Rows{Schema: []*gpb.ColumnSchema{
			{ColumnName: "time", Datatype: gpb.ColumnDataType_TIMESTAMP_MILLISECOND, SemanticType: gpb.SemanticType_TIMESTAMP}},
			Rows: []*gpb.Row{{Values: []*gpb.Value{{ValueData: &gpb.Value_TimestampMillisecondValue{TimestampMillisecondValue: epoch.UnixMilli()}}}}}}},
		{TableName: fresh, Rows: &gpb.Rows{Schema: []*gpb.ColumnSchema{
			{ColumnName: "a", Datatype: gpb.ColumnDataType_TIMESTAMP_MILLISECOND, SemanticType: gpb.SemanticType_TIMESTAMP},
			{ColumnName: "b", Datatype: gpb.ColumnDataType_TIMESTAMP_MILLISECOND, SemanticType: gpb.SemanticType_TIMESTAMP}},
			Rows: []*gpb.Row{{Values: []*gpb.Value{{ValueData: &gpb.Value_TimestampMillisecondValue{TimestampMillisecondValue: epoch.UnixMilli()}}, {ValueData: &gpb.Value_TimestampMillisecondValue{TimestampMillisecondValue: epoch.UnixMilli()}}}}}}},
		{TableName: fresh, Rows: &gpb.Rows{Schema: []*gpb.ColumnSchema{
			{ColumnName: "v", Datatype: gpb.ColumnDataType_INT64, SemanticType: gpb.SemanticType_FIELD}},
			Rows: []*gpb.Row{{Values: []*gpb.Value{{ValueData: &gpb.Value_I64Value{I64Value: 1}}}}}}},
		{TableName: fresh, Rows: &gpb.Rows{Schema: []*gpb.ColumnSchema{
			{ColumnName: "ts", Datatype: gpb.ColumnDataType_TIMESTAMP_MILLISECOND, SemanticType: gpb.SemanticType_TIMESTAMP},
			{ColumnName: "v", Datatype: gpb.ColumnDataType_INT64, SemanticType: gpb.SemanticType_FIELD}},
			Rows: []*gpb.Row{{Values: []*gpb.Value{{ValueData: &gpb.Value_TimestampMillisecondValue{TimestampMillisecondValue: epoch.UnixMilli()}}, {ValueData: &gpb.Value_F64Value{F64Value: 1}}}}}}},
	}
	for i, in := range bad {
		err := c.Insert(context.Background(), []*gpb.RowInsertRequest{in})
		if err == nil || ClassOf(err) != ClassRows {
			t.Errorf("bad request %d: %v", i, err)
		}
	}
}

func TestAuthHintsCompression(t *testing.T) {
	tg := greptimetest.NewTarget(t, greptimetest.WithAuth("ingest", "s3cret"))
	for _, comp := range []string{"none", "gzip", "zstd"} {
		tb := tg.Table("logs_" + comp)
		c := dial(t, Config{Addr: tg.Addr, Username: tg.Username, Password: tg.Password, Compression: comp,
			Hints: Hints{TTL: "7d", AppendMode: "true", AutoCreateTable: "true"}})
		w := &Writer{Client: c, Backoff: fastBackoff(0)}
		names, rs, _ := rows(t, tb, `{"host":"a","v":1}`, `{"host":"a","v":1}`)
		if _, err := w.Write(context.Background(), names, rs); err != nil {
			t.Fatalf("%s: %v", comp, err)
		}
		if _, err := w.Write(context.Background(), names, rs); err != nil {
			t.Fatalf("%s: %v", comp, err)
		}
		// append mode keeps the duplicate rows of the second write
		if n := tg.Count(t, "", tb); n != 4 {
			t.Errorf("%s: append-mode table has %d rows, want 4", comp, n)
		}
		// Only the double shows table options.
		if tg.Double != nil {
			if opts := tg.Double.Table("", tb).Options(); opts["ttl"] != "7d" || opts["append_mode"] != "true" {
				t.Errorf("%s: table options %v", comp, opts)
			}
		}
	}
	// Only the double records the hints received.
	if tg.Double != nil {
		h := tg.Double.Hints()
		if got := h[len(h)-1]; got["ttl"] != "7d" || got["auto_create_table"] != "true" {
			t.Errorf("hints %v", got)
		}
	}
	if tg.Username == "" {
		t.Log("the server has no auth (GREPTIME_USERNAME unset): wrong credentials not tested")
		return
	}
	for _, cred := range [][2]string{{tg.Username, "wrong"}, {"nobody", tg.Password}, {"", ""}} {
		c := dial(t, Config{Addr: tg.Addr, Username: cred[0], Password: cred[1]})
		w := &Writer{Client: c, Backoff: fastBackoff(3)}
		names, rs, _ := rows(t, tg.Table("auth"), `{"host":"a","v":1}`)
		_, err := w.Write(context.Background(), names, rs)
		var ge *Error
		if !errors.As(err, &ge) || ge.Code != codes.Unauthenticated || ge.Class() != ClassBatch {
			t.Errorf("credentials %v: %v", cred, err)
		}
	}
}

func TestAutoCreateOffRejectsNewTables(t *testing.T) {
	tg := greptimetest.NewTarget(t)
	absent := tg.Table("absent")
	c := dial(t, Config{Addr: tg.Addr, Username: tg.Username, Password: tg.Password, Hints: Hints{AutoCreateTable: "false"}})
	w := &Writer{Client: c, Backoff: fastBackoff(0)}
	names, rs, _ := rows(t, "", absent+`|{"host":"a","v":1}`, absent+`|{"host":"b","v":1}`)
	res, err := w.Write(context.Background(), names, rs)
	if err != nil || len(res.Failed) != 2 || !strings.Contains(res.Failed[0].Error(), "4001") {
		t.Fatalf("err %v failed %v", err, res.Failed)
	}
	if n := tg.Count(t, "", absent); n != 0 {
		t.Errorf("%d rows in a table that should not exist", n)
	}
}

func TestSlowResponsesTimeOut(t *testing.T) {
	s := startDouble(t)
	c := dial(t, Config{Addr: s.Addr(), Timeout: 100 * time.Millisecond})
	s.SetDelay(time.Second)
	w := &Writer{Client: c, Backoff: fastBackoff(3)}
	names, rs, _ := rows(t, "slow", `{"host":"a","v":1}`)
	start := time.Now()
	_, err := w.Write(context.Background(), names, rs)
	var ge *Error
	if !errors.As(err, &ge) || ge.Code != codes.DeadlineExceeded || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("slow write: %v after %v", err, time.Since(start))
	}
	s.SetDelay(50 * time.Millisecond)
	patient := &Writer{Client: dial(t, Config{Addr: s.Addr(), Timeout: 10 * time.Second}), Backoff: fastBackoff(0)}
	if _, err := patient.Write(context.Background(), names, rs); err != nil {
		t.Fatalf("slow but in time: %v", err)
	}
}

func TestDialFailsWithTheReason(t *testing.T) {
	addr := testnet.FreeAddr(t)
	_, err := Dial(context.Background(), Config{Addr: addr, Database: "public", Timeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "health check") {
		t.Fatalf("dial to a closed port: %v", err)
	}
	if _, err := Dial(context.Background(), Config{Addr: addr}); err == nil || !strings.Contains(err.Error(), "database") {
		t.Fatalf("empty database: %v", err)
	}
	if _, err := Dial(context.Background(), Config{Addr: addr, Database: "d", Compression: "lz4"}); err == nil {
		t.Fatal("unknown compression accepted")
	}
}

func TestMutualTLS(t *testing.T) {
	p := greptimetest.NewPKI(t)
	s := startDouble(t, greptimetest.WithTLS(p.ServerTLS()))
	c := dial(t, Config{Addr: s.Addr(), TLS: &tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{p.Client}, MinVersion: tls.VersionTLS12}})
	w := &Writer{Client: c}
	names, rs, _ := rows(t, "secure", `{"host":"a","v":1}`)
	if _, err := w.Write(context.Background(), names, rs); err != nil {
		t.Fatal(err)
	}
	if s.Table("", "secure").Len() != 1 {
		t.Fatal("row not stored over mTLS")
	}
	short := 500 * time.Millisecond
	for name, cfg := range map[string]Config{
		"plaintext":         {Addr: s.Addr(), Database: "public", Timeout: short},
		"no client cert":    {Addr: s.Addr(), Database: "public", Timeout: short, TLS: &tls.Config{RootCAs: p.Pool}},
		"foreign client":    {Addr: s.Addr(), Database: "public", Timeout: short, TLS: &tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{p.Other}}},
		"unknown server CA": {Addr: s.Addr(), Database: "public", Timeout: short, TLS: &tls.Config{Certificates: []tls.Certificate{p.Client}}},
	} {
		if c, err := Dial(context.Background(), cfg); err == nil {
			c.Close()
			t.Errorf("%s: connected", name)
		}
	}
	// skip verify: the server certificate is not checked, the client one still is.
	c2 := dial(t, Config{Addr: s.Addr(), TLS: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{p.Client}}}) //nolint:gosec // the point of the test
	if err := c2.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
}
