package chsink

import (
	"testing"

	"github.com/valyala/fastjson"
)

func TestCreateTableInference(t *testing.T) {
	var p fastjson.Parser
	for _, c := range []struct {
		modern bool
		want   string
	}{
		{true, "CREATE TABLE IF NOT EXISTS `db`.`t` (`ts` DateTime64(3), `host` String, `n` Nullable(Int64), `v` Nullable(Float64), `ok` Nullable(Bool), `tags` Array(String), `obj` Nullable(String), `later` Nullable(String)) ENGINE = MergeTree() PARTITION BY toDate(ts) ORDER BY (host, ts)"},
		{false, "CREATE TABLE IF NOT EXISTS `db`.`t` (`ts` DateTime, `host` String, `n` Nullable(Int64), `v` Nullable(Float64), `ok` Nullable(UInt8), `tags` Array(String), `obj` Nullable(String), `later` Nullable(String)) ENGINE = MergeTree() PARTITION BY toDate(ts) ORDER BY (host, ts)"},
	} {
		inf := newInference(c.modern, c.modern)
		for _, row := range []string{
			`{"ts":"2024-01-01T00:00:00Z","host":"a","n":1,"v":1.5,"ok":true,"tags":["x"],"obj":{"a":1},"later":null}`,
			`{"ts":"2024-01-01T00:00:01Z","host":"b","n":2,"v":2,"later":"now a string"}`,
		} {
			v, err := p.Parse(row)
			if err != nil {
				t.Fatal(err)
			}
			o, _ := v.Object()
			o.Visit(func(k []byte, v *fastjson.Value) { inf.observe(string(k), v) })
		}
		got := inf.ddl("`db`.`t`", &CreateTable{OrderBy: "(host, ts)", PartitionBy: "toDate(ts)"})
		if got != c.want {
			t.Errorf("modern=%v:\n got %s\nwant %s", c.modern, got, c.want)
		}
	}
	if mentions("(hostname, ts)", "host") || !mentions("(host, ts)", "host") {
		t.Fatal("mentions")
	}
}
