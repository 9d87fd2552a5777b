package greptimetest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// Target is where a test writes: a real GreptimeDB when GREPTIME_ADDR
// (host:port of its gRPC endpoint) is set, else a fresh double. Against a
// real server rows are counted with SQL over its HTTP API at
// GREPTIME_HTTP_ADDR (default: GREPTIME_ADDR's host, port 4000).
type Target struct {
	Addr   string
	Double *Server // nil for a real GreptimeDB
	http   string
	suffix string
}

// NewTarget returns the test's target; the double stops at the test's end.
func NewTarget(tb testing.TB, opts ...Option) *Target {
	tb.Helper()
	if addr := os.Getenv("GREPTIME_ADDR"); addr != "" {
		h := os.Getenv("GREPTIME_HTTP_ADDR")
		if h == "" {
			host, _, _ := net.SplitHostPort(addr)
			h = net.JoinHostPort(host, "4000")
		}
		return &Target{Addr: addr, http: h, suffix: fmt.Sprintf("_%d", time.Now().UnixNano())}
	}
	s, err := Start(opts...)
	if err != nil {
		tb.Fatalf("starting the greptimetest double: %v", err)
	}
	tb.Cleanup(s.Stop)
	return &Target{Addr: s.Addr(), Double: s}
}

// Table is a table name unique to this run on a real server (tables
// persist there), base itself on the double.
func (t *Target) Table(base string) string { return base + t.suffix }

// Count is the number of rows stored in db.table (0 if it does not exist).
func (t *Target) Count(tb testing.TB, db, table string) int {
	tb.Helper()
	if t.Double != nil {
		tab := t.Double.Table(db, table)
		if tab == nil {
			return 0
		}
		return tab.Len()
	}
	if db == "" {
		db = "public"
	}
	q := url.Values{"db": {db}, "sql": {fmt.Sprintf("SELECT count(*) FROM %q", table)}}
	resp, err := http.Post("http://"+t.http+"/v1/sql", "application/x-www-form-urlencoded", strings.NewReader(q.Encode()))
	if err != nil {
		tb.Fatalf("querying GreptimeDB at %s: %v", t.http, err)
	}
	defer resp.Body.Close()
	var out struct {
		Output []struct {
			Records struct {
				Rows [][]any `json:"rows"`
			} `json:"records"`
		} `json:"output"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		tb.Fatalf("decoding the SQL answer: %v", err)
	}
	if out.Error != "" {
		if strings.Contains(out.Error, "not found") {
			return 0
		}
		tb.Fatalf("SQL error: %s", out.Error)
	}
	if len(out.Output) == 0 || len(out.Output[0].Records.Rows) == 0 || len(out.Output[0].Records.Rows[0]) == 0 {
		return 0
	}
	n, _ := out.Output[0].Records.Rows[0][0].(float64)
	return int(n)
}
