package mapping

import (
	"strings"
	"testing"
	"time"

	gpb "github.com/GreptimeTeam/greptime-proto/go/greptime/v1"
)

func mustMapper(t *testing.T, cfg Config) *Mapper {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// cols renders a table schema as "name:TYPE:SEM" strings.
func cols(t *Table) []string {
	var out []string
	for _, c := range t.schema {
		out = append(out, c.ColumnName+":"+c.Datatype.String()+":"+c.SemanticType.String())
	}
	return out
}

func value(t *testing.T, tb *Table, row int, col string) any {
	t.Helper()
	r := tb.Request().Rows.Rows[row]
	idx, ok := tb.index[col]
	if !ok {
		t.Fatalf("no column %s in %v", col, cols(tb))
	}
	switch v := r.Values[idx].ValueData.(type) {
	case nil:
		return nil
	case *gpb.Value_I64Value:
		return v.I64Value
	case *gpb.Value_U64Value:
		return v.U64Value
	case *gpb.Value_F64Value:
		return v.F64Value
	case *gpb.Value_BoolValue:
		return v.BoolValue
	case *gpb.Value_StringValue:
		return v.StringValue
	case *gpb.Value_BinaryValue:
		return string(v.BinaryValue)
	case *gpb.Value_TimestampMillisecondValue:
		return v.TimestampMillisecondValue
	case *gpb.Value_TimestampMicrosecondValue:
		return v.TimestampMicrosecondValue
	case *gpb.Value_TimestampNanosecondValue:
		return v.TimestampNanosecondValue
	}
	t.Fatalf("unexpected value %T", r.Values[idx].ValueData)
	return nil
}

func add(t *testing.T, b *Batch, msg int, table, row string, def time.Time) error {
	t.Helper()
	b.Begin(msg)
	err := b.AddRow(table, []byte(row), def)
	if err != nil {
		b.Rollback()
	}
	return err
}

func TestInferredColumnsAndNames(t *testing.T) {
	m := mustMapper(t, Config{Timestamp: Timestamp{Path: "ts"}, Tags: []Column{{Path: "hostName"}, {Path: "loc.site"}}})
	b := m.NewBatch()
	row := `{"ts": 1700000000123, "hostName": "h1", "loc": {"site": "paris"}, "cpuLoad": 0.5, "count": 7, "ok": true, "msg": "hi", "arr": [1,2], "nothing": null}`
	if err := add(t, b, 0, "MyTable", row, time.Time{}); err != nil {
		t.Fatal(err)
	}
	tables := b.Tables()
	if len(tables) != 1 || tables[0].Name != "my_table" {
		t.Fatalf("tables %v", tables)
	}
	tb := tables[0]
	got := strings.Join(cols(tb), " ")
	for _, want := range []string{"ts:TIMESTAMP_MILLISECOND:TIMESTAMP", "host_name:STRING:TAG", "loc_site:STRING:TAG",
		"cpu_load:FLOAT64:FIELD", "count:INT64:FIELD", "ok:BOOLEAN:FIELD", "msg:STRING:FIELD", "arr:STRING:FIELD"} {
		if !strings.Contains(got, want) {
			t.Errorf("schema %s lacks %s", got, want)
		}
	}
	if strings.Contains(got, "nothing") || strings.Contains(got, "loc:") {
		t.Errorf("schema %s has null or tag-parent columns", got)
	}
	if v := value(t, tb, 0, "ts"); v != int64(1700000000123) {
		t.Errorf("ts %v", v)
	}
	if v := value(t, tb, 0, "arr"); v != "[1,2]" {
		t.Errorf("arr %v", v)
	}
}

func TestTimestampUnitsLayoutsPrecision(t *testing.T) {
	ref := time.Date(2026, 12, 5, 1, 2, 3, 456789123, time.UTC)
	cases := []struct {
		ts   Timestamp
		json string
		want int64
	}{
		{Timestamp{Path: "t", Unit: time.Second}, `1796000000`, 1796000000 * 1000},
		{Timestamp{Path: "t", Unit: time.Second, Precision: Nanosecond}, `1.5`, 1500000000},
		{Timestamp{Path: "t", Unit: time.Nanosecond, Precision: Microsecond}, `1796000000123456789`, 1796000000123456},
		{Timestamp{Path: "t"}, `"` + ref.Format(time.RFC3339Nano) + `"`, ref.UnixMilli()},
		{Timestamp{Path: "t", Precision: Nanosecond}, `"` + ref.Format(time.RFC3339Nano) + `"`, ref.UnixNano()},
		{Timestamp{Path: "t", Layout: "2006-01-02 15:04:05", Precision: Microsecond}, `"2026-12-05 01:02:03"`, ref.Truncate(time.Second).UnixMicro()},
		{Timestamp{Path: "t", Unit: time.Millisecond}, `"1796000000123"`, 1796000000123},
		{Timestamp{Path: "t", Precision: Microsecond}, `"2026-12-05 01:02:03.456789Z"`, ref.Truncate(time.Microsecond).UnixMicro()},
		{Timestamp{Path: "t", Unit: time.Second, Precision: Millisecond}, `1796000000.25`, 1796000000250},
		{Timestamp{Path: "t", Unit: time.Millisecond}, `1.796e12`, 1796000000000},
	}
	for i, c := range cases {
		m := mustMapper(t, Config{Timestamp: c.ts})
		b := m.NewBatch()
		if err := add(t, b, 0, "t", `{"t":`+c.json+`,"v":1}`, time.Time{}); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		col := "ts"
		if got := value(t, b.Tables()[0], 0, col); got != c.want {
			t.Errorf("case %d: got %v want %d", i, got, c.want)
		}
	}
	// Default time: the message's publish time.
	m := mustMapper(t, Config{})
	b := m.NewBatch()
	if err := add(t, b, 0, "t", `{"v":1}`, ref); err != nil {
		t.Fatal(err)
	}
	if got := value(t, b.Tables()[0], 0, "ts"); got != ref.UnixMilli() {
		t.Errorf("default ts %v", got)
	}
	// A configured path that is missing fails the row.
	m = mustMapper(t, Config{Timestamp: Timestamp{Path: "t"}})
	if err := add(t, m.NewBatch(), 0, "t", `{"v":1}`, ref); err == nil || !strings.Contains(err.Error(), "timestamp t is missing") {
		t.Errorf("missing timestamp: %v", err)
	}
	if err := add(t, m.NewBatch(), 0, "t", `{"t":"yesterday","v":1}`, ref); err == nil || !strings.Contains(err.Error(), "timestamp t") {
		t.Errorf("bad timestamp: %v", err)
	}
	for _, bad := range []string{`1e300`, `1.5`, `"2026-13-01T00:00:00Z"`, `true`} {
		if err := add(t, m.NewBatch(), 0, "t", `{"t":`+bad+`,"v":1}`, ref); err == nil {
			t.Errorf("timestamp %s accepted", bad)
		}
	}
}

func TestTypedFields(t *testing.T) {
	m := mustMapper(t, Config{Fields: []Column{
		{Path: "i", Type: TypeInt64}, {Path: "u", Type: TypeUint64}, {Path: "f", Type: TypeFloat64},
		{Path: "b", Type: TypeBool}, {Path: "s", Type: TypeString}, {Path: "bin", Type: TypeBinary},
		{Path: "j", Type: TypeJSON}, {Path: "n.x", Name: "renamed", Type: TypeFloat64},
	}})
	b := m.NewBatch()
	if err := add(t, b, 0, "t", `{"i":"4.2e1","u":7,"f":3,"b":"true","s":{"a":1},"bin":"raw","j":[1],"n":{"x":"2.5"},"ignored":1}`, time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	tb := b.Tables()[0]
	for col, want := range map[string]any{"i": int64(42), "u": uint64(7), "f": 3.0, "b": true, "s": `{"a":1}`, "bin": "raw", "j": "[1]", "renamed": 2.5} {
		if got := value(t, tb, 0, col); got != want {
			t.Errorf("%s: %v (%T) want %v", col, got, got, want)
		}
	}
	if _, ok := tb.index["ignored"]; ok {
		t.Error("unlisted key written although fields are listed")
	}
	for _, bad := range []string{`{"i":1.5}`, `{"i":"x"}`, `{"u":-1}`, `{"f":"abc"}`, `{"b":1}`, `{"bin":1}`} {
		if err := add(t, b, 1, "t", bad, time.Unix(1, 0)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if b.Rows() != 1 {
		t.Errorf("failed rows left rows behind: %d", b.Rows())
	}
}

func TestTypeConflictsInBatch(t *testing.T) {
	m := mustMapper(t, Config{Tags: []Column{{Path: "host"}}})
	b := m.NewBatch()
	def := time.Unix(1, 0)
	// int then float in the same batch: the column widens.
	if err := add(t, b, 0, "t", `{"host":"a","temp":21}`, def); err != nil {
		t.Fatal(err)
	}
	if err := add(t, b, 1, "t", `{"host":"a","temp":21.5}`, def); err != nil {
		t.Fatal(err)
	}
	// float column, int value: converted.
	if err := add(t, b, 2, "t", `{"host":"a","temp":22}`, def); err != nil {
		t.Fatal(err)
	}
	// string into float: only this row fails.
	if err := add(t, b, 3, "t", `{"host":"a","temp":"hot"}`, def); err == nil || !strings.Contains(err.Error(), `column "temp"`) {
		t.Fatalf("conflict: %v", err)
	}
	// a field named like a tag of the table from another key set.
	tb := b.Tables()[0]
	if got := cols(tb); strings.Join(got, " ") != "ts:TIMESTAMP_MILLISECOND:TIMESTAMP host:STRING:TAG temp:FLOAT64:FIELD" {
		t.Fatalf("schema %v", got)
	}
	for i, want := range []float64{21, 21.5, 22} {
		if got := value(t, tb, i, "temp"); got != want {
			t.Errorf("row %d temp %v", i, got)
		}
	}
	// After a successful write the types are pinned: a float now into a
	// column first seen as int in a later batch stays an error.
	m2 := mustMapper(t, Config{})
	b2 := m2.NewBatch()
	if err := add(t, b2, 0, "t", `{"n":1}`, def); err != nil {
		t.Fatal(err)
	}
	m2.Pin(b2.Tables())
	b3 := m2.NewBatch()
	if err := add(t, b3, 0, "t", `{"n":1.5}`, def); err == nil {
		t.Error("float into pinned int64 column accepted")
	}
	if err := add(t, b3, 1, "t", `{"n":2}`, def); err != nil {
		t.Error(err)
	}
}

func TestRollbackOfMessage(t *testing.T) {
	m := mustMapper(t, Config{})
	b := m.NewBatch()
	def := time.Unix(1, 0)
	if err := add(t, b, 0, "a", `{"x":1}`, def); err != nil {
		t.Fatal(err)
	}
	b.Begin(1)
	for _, r := range []string{`{"x":2,"newcol":"n"}`, `{"y":1}`} {
		if err := b.AddRow("b", []byte(r), def); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.AddRow("a", []byte(`{"x":3,"z":true}`), def); err != nil {
		t.Fatal(err)
	}
	if err := b.AddRow("a", []byte(`{"x":"bad"}`), def); err == nil {
		t.Fatal("bad row accepted")
	}
	b.Rollback()
	tables := b.Tables()
	if len(tables) != 1 || tables[0].Name != "a" || tables[0].Len() != 1 || len(tables[0].schema) != 2 || b.Rows() != 1 {
		t.Fatalf("after rollback: %d tables, rows %d, schema %v", len(tables), b.Rows(), cols(tables[0]))
	}
	// The row sizes (for the output's byte metrics) are rolled back too.
	if err := add(t, b, 2, "a", "  {\"x\":4}\n", def); err != nil {
		t.Fatal(err)
	}
	if a := b.Tables()[0]; a.Len() != 2 || a.Size(0) != len(`{"x":1}`) || a.Size(1) != len(`{"x":4}`) {
		t.Fatalf("sizes of %d rows: %d, %d", a.Len(), a.Size(0), a.Size(1))
	}
}

func TestMetricsMapping(t *testing.T) {
	m := mustMapper(t, Config{Kind: KindMetrics})
	b := m.NewBatch()
	def := time.Unix(100, 0)
	rows := []string{
		`{"name":"cpu_usage","labels":{"host":"a","cpu":0},"value":0.5,"timestamp":1700000000000}`,
		`{"name":"memUsed","tags":{"host":"a"},"gauge":{"value":1024}}`,
		`{"name":"cpu_usage","labels":{"host":"b"},"value":"NaN","timestamp":1700000000001}`,
		`{"name":"http_requests_total","labels":{"code":"200"},"counter":{"value":3}}`,
	}
	b.Begin(0)
	for _, r := range rows {
		if err := b.AddRow("", []byte(r), def); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
	}
	tables := b.Tables()
	var names []string
	for _, tb := range tables {
		names = append(names, tb.Name)
	}
	if strings.Join(names, ",") != "cpu_usage,mem_used,http_requests_total" {
		t.Fatalf("tables %v", names)
	}
	cpu := tables[0]
	if got := strings.Join(cols(cpu), " "); got != "greptime_timestamp:TIMESTAMP_MILLISECOND:TIMESTAMP host:STRING:TAG cpu:STRING:TAG greptime_value:FLOAT64:FIELD" {
		t.Errorf("cpu schema %s", got)
	}
	if v := value(t, cpu, 0, "cpu"); v != "0" {
		t.Errorf("numeric label %v", v)
	}
	if v := value(t, tables[1], 0, "greptime_timestamp"); v != int64(100000) {
		t.Errorf("default metric time %v", v)
	}
	for _, bad := range []string{`{"labels":{}}`, `{"name":"x"}`, `{"name":"x","value":true}`, `{"name":"x","value":1,"labels":{"greptime_value":"a"}}`} {
		if err := add(t, b, 1, "", bad, def); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// With a table the metric names get it as prefix.
	b = m.NewBatch()
	if err := add(t, b, 0, "node", `{"name":"load1","value":1}`, def); err != nil {
		t.Fatal(err)
	}
	if n := b.Tables()[0].Name; n != "node_load1" {
		t.Errorf("prefixed table %s", n)
	}
	if _, err := New(Config{Kind: KindMetrics, Tags: []Column{{Path: "x"}}}); err == nil {
		t.Error("metrics mapping with tags accepted")
	}
}

func TestLogsMapping(t *testing.T) {
	m := mustMapper(t, Config{Kind: KindLogs, Tags: []Column{{Path: "service"}}})
	b := m.NewBatch()
	def := time.Unix(5, 0)
	b.Begin(0)
	for _, r := range []string{
		`2026-12-05T01:00:00Z ERROR disk full`,
		`{"service":"api","level":"info","message":"started","timestamp":"2026-12-05T01:00:01Z"}`,
		`{"service":"api","message":"no time"}`,
	} {
		if err := b.AddRow("app_logs", []byte(r), def); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
	}
	tb := b.Tables()[0]
	if v := value(t, tb, 0, "message"); v != "2026-12-05T01:00:00Z ERROR disk full" {
		t.Errorf("plain line %v", v)
	}
	if v := value(t, tb, 0, "ts"); v != int64(5000) {
		t.Errorf("plain line time %v", v)
	}
	if v := value(t, tb, 1, "ts"); v != time.Date(2026, 12, 5, 1, 0, 1, 0, time.UTC).UnixMilli() {
		t.Errorf("json line time %v", v)
	}
	if v := value(t, tb, 2, "ts"); v != int64(5000) {
		t.Errorf("json line without time %v", v)
	}
	if _, ok := tb.index["timestamp"]; ok {
		t.Error("timestamp also written as a field")
	}
}

func TestHostileInput(t *testing.T) {
	m := mustMapper(t, Config{Tags: []Column{{Path: "h"}}})
	def := time.Unix(1, 0)
	long := strings.Repeat("k", 200)
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	for _, bad := range []string{``, `not json`, `[1,2]`, `"str"`, `{"a":1`, `{"` + long + `":1}`, `{"h":"x","H":"y"}`, deep, "{\"a\":\"\xff\xfe\"} trailing", `{"ts":1}`} {
		b := m.NewBatch()
		err := add(t, b, 0, "t", bad, def)
		if err == nil {
			// Some are valid JSON objects: they must then map cleanly.
			if len(b.Tables()) != 1 {
				t.Errorf("%.40q accepted without a table", bad)
			}
			continue
		}
		if b.Rows() != 0 || len(b.Tables()) != 0 {
			t.Errorf("%.40q left rows", bad)
		}
	}
	// A hostile key set cannot grow the name cache without bound.
	b := m.NewBatch()
	b.Begin(0)
	for i := 0; i < 3; i++ {
		row := `{"` + strings.Repeat("x", i+1) + `":1}`
		if err := b.AddRow("t", []byte(row), def); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := New(Config{Tags: []Column{{Path: "a"}}, Fields: []Column{{Path: "a"}}}); err == nil {
		t.Error("a column both tag and field accepted")
	}
	if _, err := New(Config{Tags: []Column{{Path: long}}}); err == nil {
		t.Error("a 200-byte column name accepted")
	}
}

func BenchmarkAddRow(b *testing.B) {
	m, _ := New(Config{Timestamp: Timestamp{Path: "ts"}, Tags: []Column{{Path: "host"}, {Path: "region"}, {Path: "dc"}, {Path: "rack"}, {Path: "os"}},
		Fields: []Column{{Path: "cpu", Type: TypeFloat64}, {Path: "mem", Type: TypeFloat64}, {Path: "disk", Type: TypeInt64}}})
	row := []byte(`{"ts":1700000000000,"host":"host_12","region":"eu-west-1","dc":"dc2","rack":"r17","os":"linux","cpu":0.73,"mem":1234.5,"disk":99}`)
	b.ReportAllocs()
	batch := m.NewBatch()
	for i := 0; i < b.N; i++ {
		if i%1000 == 0 {
			batch = m.NewBatch()
		}
		batch.Begin(i)
		if err := batch.AddRow("cpu", row, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}
