package greptimetest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// Target is where a test writes: a real GreptimeDB when GREPTIME_ADDR
// (host:port of its gRPC endpoint) is set, else a fresh double. Against a
// real server rows are read with SQL over its HTTP API at
// GREPTIME_HTTP_ADDR (default: GREPTIME_ADDR's host, port 4000), with the
// credentials GREPTIME_USERNAME and GREPTIME_PASSWORD if set.
type Target struct {
	Addr   string
	Double *Server // nil for a real GreptimeDB
	// Username and Password authenticate writes: the double's WithAuth
	// option, or those of the real server (empty when it has no auth).
	Username, Password string
	http               string
	suffix             string
}

// NewTarget returns the test's target; the double stops at the test's end.
// opts configure the double only.
func NewTarget(tb testing.TB, opts ...Option) *Target {
	tb.Helper()
	if addr := os.Getenv("GREPTIME_ADDR"); addr != "" {
		h := os.Getenv("GREPTIME_HTTP_ADDR")
		if h == "" {
			host, _, _ := net.SplitHostPort(addr)
			h = net.JoinHostPort(host, "4000")
		}
		return &Target{
			Addr: addr, http: h, suffix: fmt.Sprintf("_%d", time.Now().UnixNano()),
			Username: os.Getenv("GREPTIME_USERNAME"), Password: os.Getenv("GREPTIME_PASSWORD"),
		}
	}
	s, err := Start(opts...)
	if err != nil {
		tb.Fatalf("starting the greptimetest double: %v", err)
	}
	tb.Cleanup(s.Stop)
	return &Target{Addr: s.Addr(), Double: s, Username: s.opts.user, Password: s.opts.pass}
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
	_, rows, found := t.query(tb, db, fmt.Sprintf("SELECT count(*) FROM %q", table))
	if !found || len(rows) == 0 || len(rows[0]) == 0 {
		return 0
	}
	n, _ := rows[0][0].(int64)
	return int(n)
}

// Rows are the rows stored in db.table as column name -> value, nil values
// left out, ordered by time index (nil if the table does not exist). The
// values are those of Table.Rows: int64 for integers and timestamps (in the
// column unit), float64, bool, string.
func (t *Target) Rows(tb testing.TB, db, table string) []map[string]any {
	tb.Helper()
	if t.Double != nil {
		tab := t.Double.Table(db, table)
		if tab == nil {
			return nil
		}
		return tab.Rows()
	}
	cols, rows, found := t.query(tb, db, fmt.Sprintf("SELECT * FROM %q", table))
	if !found {
		return nil
	}
	ti := ""
	for _, c := range cols {
		if strings.HasPrefix(c.Type, "Timestamp") {
			ti = c.Name
			break
		}
	}
	out := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		m := map[string]any{}
		for i, v := range r {
			if v != nil && i < len(cols) {
				m[cols[i].Name] = v
			}
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := out[i][ti].(int64)
		b, _ := out[j][ti].(int64)
		return a < b
	})
	return out
}

type sqlColumn struct {
	Name string `json:"name"`
	Type string `json:"data_type"`
}

// query runs one SQL statement over the HTTP API; found is false when the
// table does not exist. Integers are int64, other numbers float64.
func (t *Target) query(tb testing.TB, db, sql string) (cols []sqlColumn, rows [][]any, found bool) {
	tb.Helper()
	if db == "" {
		db = "public"
	}
	q := url.Values{"db": {db}, "sql": {sql}}
	req, err := http.NewRequest(http.MethodPost, "http://"+t.http+"/v1/sql", strings.NewReader(q.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if t.Username != "" {
		req.SetBasicAuth(t.Username, t.Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("querying GreptimeDB at %s: %v", t.http, err)
	}
	defer resp.Body.Close()
	var out struct {
		Output []struct {
			Records struct {
				Schema struct {
					Columns []sqlColumn `json:"column_schemas"`
				} `json:"schema"`
				Rows [][]any `json:"rows"`
			} `json:"records"`
		} `json:"output"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		tb.Fatalf("decoding the SQL answer: %v", err)
	}
	if out.Error != "" {
		if strings.Contains(out.Error, "not found") {
			return nil, nil, false
		}
		tb.Fatalf("SQL error: %s", out.Error)
	}
	if len(out.Output) == 0 {
		return nil, nil, true
	}
	rec := out.Output[0].Records
	for _, r := range rec.Rows {
		for i, v := range r {
			if n, ok := v.(json.Number); ok {
				if x, err := n.Int64(); err == nil {
					r[i] = x
				} else {
					r[i], _ = n.Float64()
				}
			}
		}
	}
	return rec.Schema.Columns, rec.Rows, true
}
