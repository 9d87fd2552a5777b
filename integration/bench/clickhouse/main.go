// Command clickhouse benchmarks the clickhouse_async output (issue 8,
// "make bench") against a real clickhouse-server ($DC_CLICKHOUSE_ADDR).
//
// On the same JSON-lines file of log events with 10 columns (two
// timestamps, strings, LowCardinality strings, numbers and an array;
// generated once, cached under ~/.cache/danube-connect/bench/) it runs:
//
//	(a) danube-connect: file input, one row per message -> clickhouse_async
//	(b) danube-connect: the same pipeline into the drop output (framework ceiling)
//	(c) clickhouse-client --query "INSERT ... FORMAT JSONEachRow" < file (the server's own loader)
//	(d) danube-connect: 1,000 rows per message, payload_format: ndjson -> clickhouse_async
//	(e) latency: a generate input at a fixed rate -> clickhouse_async; a poller
//	    measures message creation -> visible in SELECT
//
// and prints rows/s, the ratios a / bound (bound = 1/(1/b + 1/c): the output
// and the server share the machine's cores) and d / c, p50/p99 latency of
// (e) and the peak RSS (VmHWM) of every danube-connect process. (a), (c)
// and (d) are checked to have stored identical rows (a hash over all
// columns). Every scenario is its own process; on a shared machine the
// ratios within one run are the numbers to read.
//
//	go run ./integration/bench/clickhouse [-rows 1000000] [-scenarios a,b,c,d,e]
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/dustin/go-humanize"

	"github.com/danube-connect/danube-connect/integration/bench/internal/benchbuild"
	"github.com/danube-connect/danube-connect/integration/bench/internal/procstat"
)

const tableDDL = `CREATE TABLE %s (
  ts DateTime, received DateTime, host LowCardinality(String), service LowCardinality(String),
  level LowCardinality(String), msg String, latency_ms Float64, status UInt16, bytes UInt64, tags Array(String)
) ENGINE = MergeTree ORDER BY (host, ts)`

type result struct {
	name    string
	seconds float64
	rows    int64
	maxRSS  int64
	cpu     float64   // our process (or clickhouse-client), seconds
	srvCPU  float64   // the server's CPU seconds during the scenario
	lat     []float64 // ms
	hash    string
	note    string
}

var addr string

func main() {
	rows := flag.Int64("rows", 1_000_000, "rows in the generated file")
	scenarios := flag.String("scenarios", "a,b,c,d,e", "scenarios to run")
	rate := flag.Int("latency-rate", 2000, "messages per second in (e)")
	batch := flag.Int("batch", 1000, "output batching count of (a), (b) and (e), in messages")
	ndBatch := flag.Int("ndjson-batch", 10, "output batching count of (d), in 1,000-row messages")
	inFlight := flag.Int("max-in-flight", 2, "max_in_flight of the outputs")
	flag.Parse()
	addr = os.Getenv("DC_CLICKHOUSE_ADDR")
	if addr == "" {
		fail("DC_CLICKHOUSE_ADDR is not set: run `bash resources/scripts/services.sh up` and source ~/.cache/danube-connect/services.env (make bench does both)")
	}
	if _, err := exec.LookPath("clickhouse-client"); err != nil {
		fail("clickhouse-client not found: run `bash resources/scripts/services.sh up` (installs Debian's clickhouse-server and client)")
	}
	lines, blocks := ensureData(*rows)
	fi, _ := os.Stat(lines)
	version := strings.TrimSpace(client("SELECT version()", nil))
	fmt.Printf("input: %s, %s, %d rows (%.0f B/row); ClickHouse %s at %s\n", lines, humanize.IBytes(uint64(fi.Size())), *rows,
		float64(fi.Size())/float64(*rows), version, addr)

	work, err := os.MkdirTemp("", "ch-bench")
	check(err, "temp dir")
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "danube-connect")
	check(benchbuild.Build(bin), "make build")

	db := fmt.Sprintf("bench_%d", time.Now().Unix())
	client("CREATE DATABASE "+db, nil)
	defer client("DROP DATABASE IF EXISTS "+db, nil)

	want := map[string]bool{}
	for _, s := range strings.Split(*scenarios, ",") {
		want[strings.TrimSpace(s)] = true
	}
	out := func(table, format string, batch int) string {
		return fmt.Sprintf(`
  clickhouse_async:
    addr: [ %s ]
    database: %s
    table: %s
    payload_format: %s
    max_in_flight: %d
    batching: { count: %d, period: 200ms }
`, addr, db, table, format, *inFlight, batch)
	}
	var results []result
	if want["a"] {
		client(fmt.Sprintf(tableDDL, db+".a"), nil)
		r := withServerCPU(func() result {
			return runPipeline(bin, work, "a clickhouse_async (1 row/msg)", fileInput(lines, `"\n"`), out("a", "json", *batch), *rows)
		})
		r.hash = tableHash(db + ".a")
		results = append(results, r)
	}
	if want["b"] {
		results = append(results, runPipeline(bin, work, "b drop (1 row/msg)", fileInput(lines, `"\n"`), fmt.Sprintf(`
  broker:
    outputs: [ { drop: {} } ]
    batching: { count: %d, period: 200ms }
`, *batch), *rows))
	}
	if want["c"] {
		client(fmt.Sprintf(tableDDL, db+".c"), nil)
		results = append(results, withServerCPU(func() result { return runClient(db+".c", lines, *rows) }))
	}
	if want["d"] {
		client(fmt.Sprintf(tableDDL, db+".d"), nil)
		r := withServerCPU(func() result {
			return runPipeline(bin, work, "d clickhouse_async (ndjson 1000/msg)", fileInput(blocks, `"\n\n"`), out("d", "ndjson", *ndBatch), *rows)
		})
		r.hash = tableHash(db + ".d")
		results = append(results, r)
	}
	if want["e"] {
		client(fmt.Sprintf(tableDDL, db+".e")+"", nil)
		client("ALTER TABLE "+db+".e ADD COLUMN sent_us UInt64", nil)
		results = append(results, runLatency(bin, work, db, *rate, *batch, *inFlight))
	}
	report(results)
}

// serverCPU is the CPU seconds clickhouse-server has used so far (from the
// pid file services.sh writes), or -1 when unknown.
func serverCPU() float64 {
	b, err := os.ReadFile(filepath.Join(cacheDir(), "run", "clickhouse.pid"))
	if err != nil {
		return -1
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	var ut, st float64
	if len(f) < 13 {
		return -1
	}
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return (ut + st) / 100 // USER_HZ
}

// withServerCPU runs fn and adds the server's CPU time during it.
func withServerCPU(fn func() result) result {
	before := serverCPU()
	r := fn()
	if after := serverCPU(); before >= 0 && after >= 0 {
		r.srvCPU = after - before
	}
	return r
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(1)
}

func check(err error, what string) {
	if err != nil {
		fail(fmt.Sprintf("%s: %v", what, err))
	}
}

// client runs clickhouse-client with query (and stdin) and returns stdout.
func client(query string, stdin *os.File) string {
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("clickhouse-client", "--host", host, "--port", port, "--query", query)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = stdin
	}
	check(cmd.Run(), fmt.Sprintf("clickhouse-client %q: %s", query, errb.String()))
	return out.String()
}

func cacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "danube-connect")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "danube-connect")
}

// ensureData writes (once) the JSON-lines file and the same rows as
// 1,000-line messages separated by blank lines.
func ensureData(rows int64) (lines, blocks string) {
	dir := filepath.Join(cacheDir(), "bench")
	check(os.MkdirAll(dir, 0o755), "cache dir")
	lines = filepath.Join(dir, fmt.Sprintf("ch-events-%d.jsonl", rows))
	blocks = filepath.Join(dir, fmt.Sprintf("ch-events-%d.blocks", rows))
	if _, err := os.Stat(blocks); err == nil {
		return
	}
	lf, err := os.Create(lines + ".tmp")
	check(err, "data file")
	bf, err := os.Create(blocks + ".tmp")
	check(err, "data file")
	lw, bw := bufio.NewWriterSize(lf, 1<<20), bufio.NewWriterSize(bf, 1<<20)
	g := newGen()
	for i := int64(0); i < rows; i++ {
		row := g.next()
		lw.Write(row)
		lw.WriteByte('\n')
		bw.Write(row)
		bw.WriteByte('\n')
		if (i+1)%1000 == 0 && i+1 < rows {
			bw.WriteByte('\n')
		}
	}
	check(lw.Flush(), "data file")
	check(bw.Flush(), "data file")
	lf.Close()
	bf.Close()
	check(os.Rename(lines+".tmp", lines), "data file")
	check(os.Rename(blocks+".tmp", blocks), "data file")
	return
}

type gen struct {
	rng *rand.Rand
	ts  time.Time
	buf []byte
}

func newGen() *gen {
	return &gen{rng: rand.New(rand.NewPCG(8, 8^0x9e3779b97f4a7c15)), ts: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

var (
	hosts    = []string{"web-01", "web-02", "web-03", "api-01", "api-02", "db-01", "cache-01", "worker-07"}
	services = []string{"checkout", "search", "auth", "cart", "payments", "inventory"}
	levels   = []string{"debug", "info", "info", "info", "warn", "error"}
	words    = []string{"request", "completed", "user", "session", "timeout", "retry", "cache", "miss", "upstream", "served", "order", "queued"}
	tagSet   = []string{"beta", "mobile", "cached", "retry", "internal", "gzip"}
)

// next is one event: ts in ClickHouse text form, received as epoch seconds,
// so that (c) the server's own JSON loader reads the same values.
func (g *gen) next() []byte {
	r := g.rng
	g.ts = g.ts.Add(time.Duration(r.IntN(3000)) * time.Millisecond / 10)
	b := g.buf[:0]
	b = fmt.Appendf(b, `{"ts":"%s","received":%d,"host":"%s","service":"%s","level":"%s","msg":"`,
		g.ts.Format("2006-01-02 15:04:05"), g.ts.Unix()+int64(r.IntN(3)), hosts[r.IntN(len(hosts))],
		services[r.IntN(len(services))], levels[r.IntN(len(levels))])
	for i, n := 0, 4+r.IntN(6); i < n; i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, words[r.IntN(len(words))]...)
	}
	b = fmt.Appendf(b, `","latency_ms":%.3f,"status":%d,"bytes":%d,"tags":[`, r.Float64()*500,
		[]int{200, 200, 200, 201, 204, 304, 404, 500}[r.IntN(8)], r.IntN(1_000_000))
	for i, n := 0, r.IntN(3); i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `"%s"`, tagSet[r.IntN(len(tagSet))])
	}
	b = append(b, "]}"...)
	g.buf = b
	return b
}

func fileInput(path, delim string) string {
	return fmt.Sprintf(`
  file:
    paths: [ %s ]
    scanner:
      lines:
        custom_delimiter: %s
        max_buffer_size: 4194304
`, path, delim)
}

func runPipeline(bin, work, name, input, output string, rows int64) result {
	cfg := fmt.Sprintf("http:\n  enabled: false\nlogger:\n  level: warn\ninput:%soutput:%sshutdown_timeout: 60s\n", input, output)
	path := filepath.Join(work, strings.Fields(name)[0]+".yaml")
	check(os.WriteFile(path, []byte(cfg), 0o644), "config")
	cmd := exec.Command(bin, "run", path)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	start := time.Now()
	peak, err := procstat.RunPeak(cmd)
	res := result{name: name, seconds: time.Since(start).Seconds(), rows: rows}
	res.cpu = cpuSeconds(cmd)
	res.maxRSS = peak
	if err != nil {
		res.note = fmt.Sprintf("failed: %v: %s", err, tail(logs.String(), 10))
	} else if strings.Contains(logs.String(), "level=error") {
		res.note = "errors logged: " + tail(logs.String(), 5)
	}
	return res
}

// cpuSeconds is the CPU time of a finished child (user + system). Its peak
// RSS comes from procstat.RunPeak: wait4's Maxrss would report the parent's.
func cpuSeconds(cmd *exec.Cmd) float64 {
	if cmd.ProcessState == nil {
		return 0
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func runClient(table, data string, rows int64) result {
	f, err := os.Open(data)
	check(err, "data")
	defer f.Close()
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("clickhouse-client", "--host", host, "--port", port, "--query", "INSERT INTO "+table+" FORMAT JSONEachRow")
	cmd.Stdin = f
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	check(cmd.Run(), "clickhouse-client INSERT: "+errb.String())
	res := result{name: "c clickhouse-client JSONEachRow", seconds: time.Since(start).Seconds(), rows: rows}
	res.cpu = cpuSeconds(cmd)
	res.hash = tableHash(table)
	return res
}

// tableHash is the row count and a hash over every column of every row.
// latency_ms is compared at its 3 decimals: 18.16's JSON float parser is
// not correctly rounded (7.669 is stored as 7.6690000000000005).
func tableHash(table string) string {
	return strings.TrimSpace(client("SELECT count(), sum(cityHash64(ts, received, host, service, level, msg, toInt64(round(latency_ms * 1000)), status, bytes, tags)) FROM "+table, nil))
}

// runLatency feeds rate messages/s for 10 s, each stamped with its creation
// time, and polls the table for the newest visible stamps.
func runLatency(bin, work, db string, rate, batch, inFlight int) result {
	const secs = 10
	input := fmt.Sprintf(`
  generate:
    interval: %s
    count: %d
    mapping: |
      root.ts = now().ts_format("2006-01-02 15:04:05", "UTC")
      root.received = now().ts_unix()
      root.host = "web-01"
      root.service = "latency"
      root.level = "info"
      root.msg = "probe"
      root.latency_ms = 1.5
      root.status = 200
      root.bytes = counter()
      root.tags = ["probe"]
      root.sent_us = now().ts_unix_micro()
`, time.Second/time.Duration(rate), rate*secs)
	output := fmt.Sprintf(`
  clickhouse_async:
    addr: [ %s ]
    database: %s
    table: e
    max_in_flight: %d
    batching: { count: %d, period: 200ms }
`, addr, db, inFlight, batch)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}})
	check(err, "poller connection")
	defer conn.Close()
	var lat []float64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var seen uint64
		for last := false; !last; {
			select {
			case <-done:
				last = true // one more poll after the pipeline has exited
			case <-time.After(5 * time.Millisecond):
			}
			now := time.Now()
			rows, err := conn.Query(context.Background(), fmt.Sprintf("SELECT sent_us FROM %s.e WHERE sent_us > %d", db, seen))
			if err != nil {
				continue
			}
			for rows.Next() {
				var us uint64
				if rows.Scan(&us) == nil {
					lat = append(lat, float64(now.UnixMicro()-int64(us))/1000)
					seen = max(seen, us)
				}
			}
			rows.Close()
		}
	}()
	r := runPipeline(bin, work, "e latency", input, output, int64(rate*secs))
	time.Sleep(500 * time.Millisecond)
	close(done)
	wg.Wait()
	r.name = fmt.Sprintf("e latency (%d msg/s)", rate)
	r.lat = lat
	return r
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[int(p*float64(len(s)-1))]
}

func report(results []result) {
	fmt.Printf("\n%-38s %9s %12s %10s %12s %12s %s\n", "scenario", "seconds", "rows/s", "peak RSS", "CPU µs/row", "+server", "notes")
	by := map[byte]result{}
	for _, r := range results {
		by[r.name[0]] = r
		rps, cpu := 0.0, 0.0
		if r.seconds > 0 {
			rps = float64(r.rows) / r.seconds
		}
		if r.rows > 0 {
			cpu = r.cpu * 1e6 / float64(r.rows)
		}
		rss := "-"
		if r.maxRSS > 0 {
			rss = humanize.IBytes(uint64(r.maxRSS))
		}
		note := r.note
		if len(r.lat) > 0 {
			note = fmt.Sprintf("message -> visible in SELECT: p50 %.0f ms, p99 %.0f ms (%d rows seen) %s", percentile(r.lat, 0.5), percentile(r.lat, 0.99), len(r.lat), note)
		}
		if r.name[0] == 'c' {
			note = "the server's JSON parsing is in +server " + note
		}
		srv := "-"
		if r.srvCPU > 0 && r.rows > 0 {
			srv = fmt.Sprintf("%.2f", r.srvCPU*1e6/float64(r.rows))
		}
		fmt.Printf("%-38s %9.2f %12.0f %10s %12.2f %12s %s\n", r.name, r.seconds, rps, rss, cpu, srv, note)
	}
	rate := func(c byte) float64 {
		r, ok := by[c]
		if !ok || r.seconds == 0 || r.note != "" && c != 'c' {
			return 0
		}
		return float64(r.rows) / r.seconds
	}
	a, b, c, d := rate('a'), rate('b'), rate('c'), rate('d')
	if b > 0 && c > 0 {
		bound := 1 / (1/b + 1/c)
		fmt.Printf("shared-machine bound 1/(1/b+1/c): %.0f rows/s\n", bound)
		if a > 0 {
			fmt.Printf("ratio a / bound: %.2f (target >= 0.70)\n", a/bound)
		}
	}
	if d > 0 && c > 0 {
		fmt.Printf("ratio d / c: %.2f (target >= 0.50)\n", d/c)
		// CPU per row, process + server: what the ratio would be on an
		// otherwise idle machine where both are CPU-bound.
		dc, cc := by['d'].cpu+by['d'].srvCPU, by['c'].cpu+by['c'].srvCPU
		if by['d'].srvCPU > 0 && by['c'].srvCPU > 0 && dc > 0 {
			fmt.Printf("ratio d / c by CPU per row (client + server): %.2f\n", cc/dc)
		}
	}
	var peak int64
	for _, r := range results {
		if r.name[0] != 'b' && r.name[0] != 'c' {
			peak = max(peak, r.maxRSS)
		}
	}
	if peak > 0 {
		fmt.Printf("peak RSS of the clickhouse_async runs: %s (target < 100 MB)\n", humanize.IBytes(uint64(peak)))
	}
	if b, ok := by['b']; ok && b.maxRSS > 0 {
		// The same binary and pipeline into drop: no output can use less.
		verdict := "below 100 MB: the target is within reach"
		if b.maxRSS >= 100e6 {
			verdict = "at or above 100 MB: the target is out of reach for any output in this binary"
		}
		fmt.Printf("memory floor, (b) drop alone: %s peak RSS, %s\n", humanize.IBytes(uint64(b.maxRSS)), verdict)
	}
	for _, x := range []byte{'a', 'd'} {
		if r, ok := by[x]; ok && by['c'].hash != "" {
			if r.hash == by['c'].hash {
				fmt.Printf("%c stored the same rows as c (count, hash %s)\n", x, r.hash)
			} else {
				fmt.Printf("MISMATCH: %c stored %q, c stored %q\n", x, r.hash, by['c'].hash)
			}
		}
	}
}
