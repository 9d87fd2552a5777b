// Command delta benchmarks the delta_lake output (issue 3, "make bench").
//
// On the same JSON-lines file of ~300-byte nested events (generated once,
// cached under ~/.cache/danube-connect/bench/), it runs:
//
//	(a) danube-connect: file input (one event per message) -> delta_lake output
//	(b) danube-connect: the same pipeline into the drop output (framework ceiling)
//	(c) pyarrow.json.read_json + deltalake.write_deltalake via $DC_PYTHON (reference)
//	(d) danube-connect: file input with about 1 MiB (~3,000 events) of NDJSON per
//	    message -> delta_lake with payload_format: ndjson (same events)
//
// and prints MB/s, rows/s, the ratios of (a) to (b) and (c) and of (d) to (c), p50/p99 commit
// latency of (a) (from the output's per-commit debug log), the peak RSS and
// the CPU time per row of each process. Every scenario is a separate process,
// so RSS and CPU are its own. CPU per row is the steadier number on a shared
// machine; wall-clock ratios move with other load.
//
// (a) and (b) use the same input and the same output batching (count 2000,
// period 50ms); (a) runs with max_in_flight 4, the throughput setting the
// delta_lake spec recommends: every message held unacknowledged costs Benthos
// a goroutine, so more calls in flight mean more memory and GC work, not
// more speed.
//
//	go run ./integration/bench/delta [-size 1GiB] [-scenarios a,b,c,d] [-max-in-flight 4] [-batch-count 2000] [-group-bytes 1MiB] [-group-batch 4] [-pprof-addr 127.0.0.1:14195]
//
// The p50 RSS of the first and of the second half of each run are printed
// too: steady-state memory that grew with the table (commits, files) would
// show as a larger second half.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/danube-connect/danube-connect/integration/bench/internal/benchbuild"
	"github.com/danube-connect/danube-connect/integration/bench/internal/procstat"
)

// pprofAddr, when set, enables the HTTP server with debug endpoints in the
// pipelines, for heap and CPU profiles of a running scenario.
var pprofAddr string

type result struct {
	name      string
	seconds   float64
	rows      int64
	bytes     int64
	maxRSS    int64     // bytes
	cpu       float64   // user+system CPU seconds: less sensitive to other load than wall time
	rssP50    int64     // median of RSS samples taken every 100ms: the steady state
	rssHalves [2]int64  // medians of the first and second half of the run: growth with the table shows as second > first
	latencies []float64 // first buffered row to durable commit
	commits   []float64 // flush sealed to durable commit
	note      string
}

func main() {
	sizeFlag := flag.String("size", "1GiB", "size of the generated JSON-lines input")
	scenarios := flag.String("scenarios", "a,b,c,d", "scenarios to run: a (delta_lake), b (drop), c (delta-rs), d (delta_lake, ndjson, many rows per message)")
	groupFlag := flag.String("group-bytes", "1MiB", "NDJSON bytes per message in (d)")
	groupBatch := flag.Int("group-batch", 4, "output batching count in (d) (messages of -group-bytes each)")
	flushPeriod := flag.String("flush-period", "1s", "delta_lake flush_period")
	keep := flag.Bool("keep", false, "keep the written tables")
	maxInFlight := flag.Int("max-in-flight", 4, "max_in_flight of the output in (a) and (b)")
	batchCount := flag.Int("batch-count", 2000, "output batching count in (a) and (b)")
	batchPeriod := flag.String("batch-period", "50ms", "output batching period in (a) and (b)")
	flag.StringVar(&pprofAddr, "pprof-addr", "", "serve Benthos' debug endpoints (/debug/pprof/heap, /profile) of each pipeline at this address, e.g. 127.0.0.1:14195")
	flag.Parse()

	size, err := humanize.ParseBytes(*sizeFlag)
	must(err, "parsing -size")
	cache := cacheDir()
	dataPath := filepath.Join(cache, "bench", fmt.Sprintf("events-%d.jsonl", size))
	rows, err := ensureData(dataPath, int64(size))
	must(err, "generating data")
	fi, err := os.Stat(dataPath)
	must(err, "stat data")
	fmt.Printf("input: %s, %s, %d events (%.0f B/event), GOMAXPROCS=%d\n",
		dataPath, humanize.IBytes(uint64(fi.Size())), rows, float64(fi.Size())/float64(rows), runtime.GOMAXPROCS(0))

	work, err := os.MkdirTemp("", "delta-bench")
	must(err, "temp dir")
	if !*keep {
		defer os.RemoveAll(work)
	}
	bin := filepath.Join(work, "danube-connect")
	must(benchbuild.Build(bin), "make build")

	var results []result
	want := map[string]bool{}
	for _, s := range strings.Split(*scenarios, ",") {
		want[strings.TrimSpace(s)] = true
	}
	// (a) and (b) share the input and the output's concurrency and batching,
	// so that their ratio measures the delta_lake output alone.
	tuning := fmt.Sprintf("    max_in_flight: %d\n    batching:\n      count: %d\n      period: %s\n", *maxInFlight, *batchCount, *batchPeriod)
	if want["a"] {
		results = append(results, runPipeline(bin, work, "a delta_lake", dataPath, rows, fi.Size(), fmt.Sprintf(`
  delta_lake:
    path: %s
    flush_period: %s
%s`, filepath.Join(work, "table-a"), *flushPeriod, tuning)))
	}
	if want["b"] {
		// drop has no batching of its own: a broker applies the same
		// batching policy (drop acknowledges at once, so max_in_flight
		// does not matter there).
		results = append(results, runPipeline(bin, work, "b drop", dataPath, rows, fi.Size(), fmt.Sprintf(`
  broker:
    outputs: [ { drop: {} } ]
    batching:
      count: %d
      period: %s
`, *batchCount, *batchPeriod)))
	}
	if want["c"] {
		results = append(results, runDeltaRS(work, dataPath, rows, fi.Size()))
	}
	if want["d"] {
		groupBytes, err := humanize.ParseBytes(*groupFlag)
		must(err, "parsing -group-bytes")
		groupPath := fmt.Sprintf("%s.groups-%d", dataPath, groupBytes)
		must(ensureGroups(dataPath, groupPath, int64(groupBytes)), "writing the grouped input")
		// A blank line ends a message: the lines scanner's custom
		// delimiter cuts the same events into ~group-bytes messages.
		results = append(results, runPipelineInput(bin, work, "d delta_lake ndjson", fmt.Sprintf(`
  file:
    paths: [ %s ]
    scanner:
      lines:
        custom_delimiter: "\n\n"
        max_buffer_size: %d
`, groupPath, 4*groupBytes), rows, fi.Size(), fmt.Sprintf(`
  delta_lake:
    path: %s
    flush_period: %s
    payload_format: ndjson
    max_in_flight: %d
    batching:
      count: %d
      period: %s
`, filepath.Join(work, "table-d"), *flushPeriod, *maxInFlight, *groupBatch, *batchPeriod)))
	}
	report(results)
}

func cacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "danube-connect")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "danube-connect")
}

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
}

// ensureData writes (once) a deterministic JSON-lines file of at least size
// bytes and returns its number of lines.
func ensureData(path string, size int64) (int64, error) {
	countPath := path + ".count"
	if b, err := os.ReadFile(countPath); err == nil {
		var n int64
		if _, err := fmt.Sscan(string(b), &n); err == nil && n > 0 {
			if _, err := os.Stat(path); err == nil {
				return n, nil
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	gen := newEventGen(42)
	var written, n int64
	for written < size {
		line := gen.next()
		written += int64(len(line))
		n++
		if _, err := w.Write(line); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	return n, os.WriteFile(countPath, []byte(fmt.Sprint(n)), 0o644)
}

// eventGen produces web-request events of about 300 bytes with nested
// objects and a list, like an access log.
type eventGen struct {
	rng *rand.Rand
	id  int64
	ts  time.Time
	buf []byte
}

func newEventGen(seed uint64) *eventGen {
	return &eventGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), ts: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

var (
	methods   = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	paths     = []string{"/api/v1/orders", "/api/v1/users", "/api/v1/products/search", "/health", "/api/v2/cart/items", "/static/app.js"}
	countries = []string{"FR", "DE", "US", "JP", "BR", "IN", "GB", "ES"}
	agents    = []string{"Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2)", "okhttp/4.12.0"}
	tagSet    = []string{"beta", "mobile", "cached", "retry", "internal", "gzip"}
)

func (g *eventGen) next() []byte {
	g.id++
	g.ts = g.ts.Add(time.Duration(g.rng.IntN(2000)) * time.Microsecond)
	r := g.rng
	b := g.buf[:0]
	b = fmt.Appendf(b, `{"id":%d,"timestamp":"%s","user":{"id":%d,"name":"user-%05d","country":"%s","premium":%t},`,
		g.id, g.ts.Format("2006-01-02T15:04:05.000000Z"), r.IntN(1_000_000), r.IntN(100_000),
		countries[r.IntN(len(countries))], r.IntN(5) == 0)
	b = fmt.Appendf(b, `"request":{"method":"%s","path":"%s","status":%d,"latency_ms":%.3f,"bytes":%d,"user_agent":"%s"},`,
		methods[r.IntN(len(methods))], paths[r.IntN(len(paths))], []int{200, 200, 200, 201, 204, 304, 404, 500}[r.IntN(8)],
		r.Float64()*250, r.IntN(200_000), agents[r.IntN(len(agents))])
	nt := r.IntN(3)
	b = append(b, `"tags":[`...)
	for i := 0; i < nt; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `"%s"`, tagSet[r.IntN(len(tagSet))])
	}
	b = fmt.Appendf(b, `],"session":"%016x%016x"}`+"\n", r.Uint64(), r.Uint64())
	g.buf = b
	return b
}

func runPipeline(bin, work, name, data string, rows, size int64, output string) result {
	return runPipelineInput(bin, work, name, fmt.Sprintf(`
  file:
    paths: [ %s ]
    scanner:
      lines:
        max_buffer_size: 1048576
`, data), rows, size, output)
}

// ensureGroups writes (once) the events of data with a blank line after
// every groupBytes or so, so that each group becomes one message.
func ensureGroups(data, path string, groupBytes int64) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	in, err := os.Open(data)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var n int64
	for sc.Scan() {
		line := sc.Bytes()
		if n > 0 && n+int64(len(line))+1 > groupBytes {
			w.WriteString("\n")
			n = 0
		}
		w.Write(line)
		w.WriteByte('\n')
		n += int64(len(line)) + 1
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func runPipelineInput(bin, work, name, input string, rows, size int64, output string) result {
	httpConf := "http:\n  enabled: false\n"
	if pprofAddr != "" {
		httpConf = fmt.Sprintf("http:\n  enabled: true\n  address: %s\n  debug_endpoints: true\n", pprofAddr)
	}
	cfg := fmt.Sprintf(`
%slogger:
  level: debug
  format: json
input:
%s
output:
%s
shutdown_timeout: 60s
`, httpConf, input, output)
	cfgPath := filepath.Join(work, strings.Fields(name)[0]+".yaml")
	must(os.WriteFile(cfgPath, []byte(cfg), 0o644), "writing config")
	cmd := exec.Command(bin, "run", cfgPath)
	var logs bytes.Buffer
	cmd.Stdout = &logs
	cmd.Stderr = &logs
	start := time.Now()
	err := cmd.Start()
	var samples []int64
	var peak int64
	if err == nil {
		done := make(chan struct{})
		sampled := make(chan []int64)
		go func() { sampled <- sampleRSS(cmd.Process.Pid, done) }()
		stopPeak := procstat.WatchPeak(cmd.Process.Pid)
		err = cmd.Wait()
		peak = stopPeak()
		close(done)
		samples = <-sampled
	}
	elapsed := time.Since(start).Seconds()
	res := result{name: name, seconds: elapsed, rows: rows, bytes: size}
	if len(samples) > 0 {
		res.rssP50 = median(samples)
		res.rssHalves = [2]int64{median(samples[:len(samples)/2]), median(samples[len(samples)/2:])}
	}
	res.maxRSS = peak
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	if err != nil {
		res.note = fmt.Sprintf("failed: %v; last log lines:\n%s", err, tail(logs.String(), 20))
	}
	res.latencies, res.commits, res.rows = parseCommitLog(logs.String(), rows)
	if strings.Contains(name, "drop") {
		res.rows = rows
	} else if res.rows != rows && res.note == "" {
		res.note = fmt.Sprintf("committed %d of %d rows", res.rows, rows)
	}
	return res
}

// parseCommitLog collects the latency_ms, commit_ms and rows of the
// output's "committed" debug lines.
func parseCommitLog(logs string, fallbackRows int64) ([]float64, []float64, int64) {
	var lat, com []float64
	var rows int64
	seen := false
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `"delta_lake_commit"`) {
			continue
		}
		// Benthos' JSON logger writes structured fields as strings.
		var raw map[string]any
		if json.Unmarshal([]byte(line), &raw) != nil {
			continue
		}
		var l, c float64
		var r int64
		if _, err := fmt.Sscan(fmt.Sprint(raw["latency_ms"]), &l); err != nil {
			continue
		}
		if _, err := fmt.Sscan(fmt.Sprint(raw["commit_ms"]), &c); err != nil {
			continue
		}
		if _, err := fmt.Sscan(fmt.Sprint(raw["rows"]), &r); err != nil {
			continue
		}
		lat = append(lat, l)
		com = append(com, c)
		rows += r
		seen = true
	}
	if !seen {
		return nil, nil, fallbackRows
	}
	return lat, com, rows
}

func runDeltaRS(work, data string, rows, size int64) result {
	res := result{name: "c delta-rs write_deltalake", rows: rows, bytes: size}
	py := os.Getenv("DC_PYTHON")
	if py == "" {
		res.note = "DC_PYTHON is not set: run `make services` (resources/scripts/services.sh up) and source ~/.cache/danube-connect/services.env"
		return res
	}
	cmd := exec.Command(py, "resources/scripts/delta/deltacheck.py", "bench-write", data, filepath.Join(work, "table-c"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	peak, err := procstat.RunPeak(cmd)
	res.seconds = time.Since(start).Seconds()
	res.maxRSS = peak
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	if err != nil {
		res.note = fmt.Sprintf("failed: %v: %s", err, tail(errb.String(), 10))
	}
	return res
}

// sampleRSS reads the resident set size of pid from /proc every 100ms until
// done is closed.
func sampleRSS(pid int, done <-chan struct{}) []int64 {
	var out []int64
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	page := int64(os.Getpagesize())
	for {
		select {
		case <-done:
			return out
		case <-t.C:
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
		if err != nil {
			continue
		}
		var total, resident int64
		if _, err := fmt.Sscan(string(b), &total, &resident); err == nil {
			out = append(out, resident*page)
		}
	}
}

// median returns the median of xs without reordering it.
func median(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
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
	i := int(p * float64(len(s)-1))
	return s[i]
}

func report(results []result) {
	fmt.Printf("\n%-28s %9s %9s %12s %10s %10s %12s %s\n", "scenario", "seconds", "MB/s", "rows/s", "peak RSS", "p50 RSS", "CPU µs/row", "notes")
	byName := map[byte]result{}
	for _, r := range results {
		byName[r.name[0]] = r
		mbs, rps := 0.0, 0.0
		if r.seconds > 0 {
			mbs = float64(r.bytes) / 1e6 / r.seconds
			rps = float64(r.rows) / r.seconds
		}
		note := r.note
		if r.rssHalves[0] > 0 {
			note = fmt.Sprintf("p50 RSS 1st/2nd half %s/%s; %s", humanize.IBytes(uint64(r.rssHalves[0])), humanize.IBytes(uint64(r.rssHalves[1])), note)
		}
		if len(r.latencies) > 0 {
			note = fmt.Sprintf("%d commits; commit latency (sealed -> durable) p50 %.1f ms p99 %.1f ms; row latency (buffered -> durable) p50 %.0f ms p99 %.0f ms %s",
				len(r.latencies), percentile(r.commits, 0.5), percentile(r.commits, 0.99),
				percentile(r.latencies, 0.5), percentile(r.latencies, 0.99), note)
		}
		cpuPerRow := 0.0
		if r.rows > 0 {
			cpuPerRow = r.cpu * 1e6 / float64(r.rows)
		}
		p50 := "-"
		if r.rssP50 > 0 {
			p50 = humanize.IBytes(uint64(r.rssP50))
		}
		fmt.Printf("%-28s %9.2f %9.1f %12.0f %10s %10s %12.2f %s\n", r.name, r.seconds, mbs, rps, humanize.IBytes(uint64(r.maxRSS)), p50, cpuPerRow, note)
	}
	a, okA := byName['a']
	for _, other := range []byte{'b', 'c'} {
		o, ok := byName[other]
		if okA && ok && a.seconds > 0 && o.seconds > 0 && o.note == "" {
			fmt.Printf("ratio a/%c (throughput): %.2f", other, o.seconds/a.seconds)
			if a.cpu > 0 && o.cpu > 0 {
				fmt.Printf("; CPU per row a/%c: %.2f", other, a.cpu/o.cpu)
			}
			fmt.Println()
		}
	}
	if d, ok := byName['d']; ok {
		if c, okC := byName['c']; okC && d.seconds > 0 && c.seconds > 0 && c.note == "" && d.note == "" {
			fmt.Printf("ratio d/c (throughput): %.2f (target >= 0.80; %.2f from 1.0)", c.seconds/d.seconds, 1-c.seconds/d.seconds)
			if d.cpu > 0 && c.cpu > 0 {
				fmt.Printf("; CPU per row d/c: %.2f", d.cpu/c.cpu)
			}
			fmt.Println()
		}
	}
	if okA {
		fmt.Println("targets: a/b >= 0.70, d/c >= 0.80, steady-state (p50) RSS of a and d < 200 MiB, p50 commit latency < 100 ms (flush_period 1s)")
	}
}
