// Command greptime benchmarks the greptime output (issue 10, "make bench")
// against the in-process greptimetest double (rows counted, not kept):
//
//	(a) danube-connect: file input, one metric row per message -> greptime
//	(b) the same pipeline into drop (the framework's ceiling)
//	(c) a direct greptimedb-ingester-go Write loop, same batch size (the client's ceiling)
//	(d) danube-connect: payload_format ndjson, 1,000 rows per message -> greptime
//
// and the shared-machine bound 1/(1/(b) + 1/(c)): on this machine (a) pays
// for both the framework and the client work, so the bound is what (a)
// could reach if our output cost no more than the ingester itself.
//
//	go run ./integration/bench/greptime [-rows 1000000] [-batch 1000] [-max-in-flight 2] [-ndjson-max-in-flight 1] [-scenarios a,b,c,d]
//
// Rows are metric points with 5 tags and 3 fields. Every scenario is a
// subprocess ((c) re-executes this program), so its allocations and peak
// RSS are its own. Throughput comes from the subprocess's counters sampled
// every 100 ms between the first and the last row (start-up excluded);
// allocations per row from go_memstats_mallocs_total (runtime.MemStats for
// (c)) over the same window; peak RSS is VmHWM from /proc/<pid>/status.
// The machine is shared: compare the ratios, not the absolute rates. With
// the server on the same two cores, concurrent writes only compete for CPU
// and hold more memory: (a) runs with max_in_flight 2, (d) (1,000-row
// messages, one per request) with 1; on this machine 4 and 8 were slower.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	greptime "github.com/GreptimeTeam/greptimedb-ingester-go"
	"github.com/GreptimeTeam/greptimedb-ingester-go/table"
	"github.com/GreptimeTeam/greptimedb-ingester-go/table/types"

	"github.com/danube-connect/danube-connect/plugins/greptime/greptimetest"

	"github.com/danube-connect/danube-connect/integration/bench/internal/procstat"
	"github.com/danube-connect/danube-connect/integration/bench/internal/protoceiling"
	"github.com/danube-connect/danube-connect/internal/testnet"

	"github.com/danube-connect/danube-connect/integration/bench/internal/benchbuild"
)

const clientEnv = "GREPTIME_BENCH_CLIENT" // set: this process is scenario (c)

// debugAddrFile, when set, enables Benthos' debug endpoints (pprof) in the
// pipelines and writes each one's HTTP address there.
var debugAddrFile string

type result struct {
	name      string
	rate      float64 // rows/s
	allocsRow float64
	cpuRow    float64 // µs of the scenario process's CPU per row: steadier than rates on a shared machine
	peakRSS   int64
	fileRSS   int64 // file-backed part of the RSS (the binary's pages), at the end
	note      string
}

func main() {
	rows := flag.Int("rows", 1_000_000, "metric rows per scenario")
	batch := flag.Int("batch", 1000, "rows per write (output batching count in (a), (b); rows per Write in (c))")
	perMsg := flag.Int("rows-per-message", 1000, "rows per ndjson message in (d)")
	maxInFlight := flag.Int("max-in-flight", 2, "max_in_flight of the output in (a)")
	ndInFlight := flag.Int("ndjson-max-in-flight", 1, "max_in_flight of the output in (d)")
	scenarios := flag.String("scenarios", "a,b,c,d", "scenarios to run")
	bin := flag.String("bin", "", "danube-connect binary (built from ./cmd/danube-connect when empty)")
	flag.StringVar(&debugAddrFile, "debug-addr-file", "", "enable pprof in the pipelines and write their address here")
	flag.Parse()
	if addr := os.Getenv(clientEnv); addr != "" {
		runClient(addr, *rows, *batch)
		return
	}

	dir := filepath.Join(cacheDir(), "bench")
	must(os.MkdirAll(dir, 0o755), "cache dir")
	linesPath := filepath.Join(dir, fmt.Sprintf("greptime-metrics-%d.jsonl", *rows))
	must(ensureData(linesPath, *rows, 0), "generating rows")
	ndPath := filepath.Join(dir, fmt.Sprintf("greptime-metrics-%d-by%d.ndjson", *rows, *perMsg))
	must(ensureData(ndPath, *rows, *perMsg), "generating ndjson messages")

	work, err := os.MkdirTemp("", "greptime-bench")
	must(err, "temp dir")
	defer os.RemoveAll(work)
	if *bin == "" {
		*bin = filepath.Join(work, "danube-connect")
		must(benchbuild.Build(*bin), "make build")
	}
	srv, err := greptimetest.Start(greptimetest.WithoutRows())
	must(err, "starting greptimetest")
	defer srv.Stop()
	fmt.Printf("greptime bench: %d rows (5 tags, 3 fields), batch %d, max_in_flight %d (a) / %d (d), GOMAXPROCS %d, server: greptimetest double in the bench process\n",
		*rows, *batch, *maxInFlight, *ndInFlight, runtime.GOMAXPROCS(0))

	want := map[string]bool{}
	for _, s := range strings.Split(*scenarios, ",") {
		want[strings.TrimSpace(s)] = true
	}
	mapping := `
    table: cpu
    timestamp: { path: ts, unit: ms }
    tags: [ host, region, dc, rack, os ]
    fields:
      - { path: usage_user, type: float64 }
      - { path: usage_system, type: float64 }
      - { path: procs, type: int64 }`
	res := map[string]result{}
	if want["a"] {
		res["a"] = runPipeline(*bin, work, "a", linesPath, "lines: { max_buffer_size: 1048576 }", fmt.Sprintf(`
  greptime:
    addr: %s%s
    max_in_flight: %d
    batching: { count: %d, period: 50ms }
`, srv.Addr(), mapping, *maxInFlight, *batch), *rows, 1)
	}
	if want["b"] {
		res["b"] = runPipeline(*bin, work, "b", linesPath, "lines: { max_buffer_size: 1048576 }", fmt.Sprintf(`
  broker:
    outputs: [ { drop: {} } ]
    batching: { count: %d, period: 50ms }
`, *batch), *rows, 1)
	}
	if want["c"] {
		res["c"] = runClientProcess(srv.Addr(), *rows, *batch)
	}
	if want["d"] {
		res["d"] = runPipeline(*bin, work, "d", ndPath, `lines: { custom_delimiter: "\u001e", max_buffer_size: 67108864 }`, fmt.Sprintf(`
  greptime:
    addr: %s%s
    payload_format: ndjson
    max_in_flight: %d
`, srv.Addr(), mapping, *ndInFlight), *rows, *perMsg)
	}
	report(res)
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

// point is one metric row.
type point struct {
	ts                         int64
	host, region, dc, rack, os string
	usageUser, usageSystem     float64
	procs                      int64
}

var (
	regions = []string{"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1"}
	oses    = []string{"linux", "linux", "linux", "windows", "freebsd"}
)

type gen struct {
	rng *rand.Rand
	i   int64
}

func newGen() *gen { return &gen{rng: rand.New(rand.NewPCG(10, 10))} }

// next is a deterministic point: 1,000 hosts reporting every 10 s.
func (g *gen) next() point {
	g.i++
	h := g.i % 1000
	return point{
		ts: 1_767_225_600_000 + (g.i/1000)*10_000, host: "host_" + strconv.FormatInt(h, 10),
		region: regions[h%5], dc: "dc" + strconv.FormatInt(h%7, 10), rack: "r" + strconv.FormatInt(h%40, 10), os: oses[h%5],
		usageUser: float64(g.rng.IntN(10000)) / 100, usageSystem: float64(g.rng.IntN(5000)) / 100, procs: int64(100 + g.rng.IntN(400)),
	}
}

func (p point) appendJSON(b []byte) []byte {
	return fmt.Appendf(b, `{"ts":%d,"host":"%s","region":"%s","dc":"%s","rack":"%s","os":"%s","usage_user":%g,"usage_system":%g,"procs":%d}`,
		p.ts, p.host, p.region, p.dc, p.rack, p.os, p.usageUser, p.usageSystem, p.procs)
}

// ensureData writes n rows once: one per line, or, with perMsg > 0, ndjson
// messages of perMsg rows separated by the record separator 0x1E.
func ensureData(path string, n, perMsg int) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	g := newGen()
	var buf []byte
	for i := 0; i < n; i++ {
		buf = g.next().appendJSON(buf[:0])
		buf = append(buf, '\n')
		if perMsg > 0 && (i+1)%perMsg == 0 {
			buf = append(buf, 0x1e)
		}
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return err
		}
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

func freeAddr() string {
	addr, err := testnet.Addr()
	must(err, "free port")
	return addr
}

// runPipeline runs danube-connect on data and samples its output_sent
// counter (messages; rowsPerMsg rows each).
func runPipeline(bin, work, name, data, scanner, output string, rows, rowsPerMsg int) result {
	res := result{name: name}
	httpAddr := freeAddr()
	debug := "false"
	if debugAddrFile != "" {
		debug = "true"
		must(os.WriteFile(debugAddrFile, []byte(httpAddr), 0o600), "debug address file")
	}
	cfg := fmt.Sprintf(`
http: { enabled: true, address: %s, debug_endpoints: %s }
logger: { level: warn }
shutdown_delay: 2s
input:
  file:
    paths: [ %s ]
    scanner:
      %s
output:
%s
`, httpAddr, debug, data, scanner, output)
	path := filepath.Join(work, name+".yaml")
	must(os.WriteFile(path, []byte(cfg), 0o600), "config")
	cmd := exec.Command(bin, "run", path)
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	must(cmd.Start(), "starting danube-connect")
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	wantMsgs := int64(rows / rowsPerMsg)
	var first, last sample
	var hwm int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(15 * time.Minute)
loop:
	for {
		select {
		case err := <-exited:
			res.note = fmt.Sprintf("exited before all rows were counted (%v): %s", err, tail(logs.String()))
			return res
		case <-tick.C:
		}
		if v := procstat.Status(cmd.Process.Pid, "VmHWM"); v > hwm {
			hwm = v
		}
		s, err := scrape("http://" + httpAddr + "/metrics")
		s.cpu = procstat.CPU(cmd.Process.Pid)
		if err != nil {
			if time.Now().After(deadline) {
				break loop
			}
			continue
		}
		if first.at.IsZero() && s.sent > 0 {
			first = s
		}
		last = s
		if s.sent >= wantMsgs || time.Now().After(deadline) {
			break
		}
	}
	if v := procstat.Status(cmd.Process.Pid, "VmHWM"); v > hwm {
		hwm = v
	}
	res.fileRSS = procstat.Status(cmd.Process.Pid, "RssFile")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	res.peakRSS = hwm
	if last.sent < wantMsgs {
		res.note = fmt.Sprintf("only %d of %d messages: %s", last.sent, wantMsgs, tail(logs.String()))
	}
	if first.at.IsZero() || !last.at.After(first.at) {
		res.note += " (too fast to sample)"
		return res
	}
	msgs := float64(last.sent - first.sent)
	res.rate = msgs * float64(rowsPerMsg) / last.at.Sub(first.at).Seconds()
	res.allocsRow = (last.mallocs - first.mallocs) / (msgs * float64(rowsPerMsg))
	res.cpuRow = float64((last.cpu - first.cpu).Microseconds()) / (msgs * float64(rowsPerMsg))
	return res
}

type sample struct {
	at      time.Time
	sent    int64
	mallocs float64
	cpu     time.Duration
}

func scrape(url string) (sample, error) {
	resp, err := http.Get(url)
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	s := sample{at: time.Now()}
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "output_sent{"):
			if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
				s.sent += int64(v)
				found = true
			}
		case strings.HasPrefix(line, "go_memstats_mallocs_total "):
			s.mallocs, _ = strconv.ParseFloat(strings.TrimPrefix(line, "go_memstats_mallocs_total "), 64)
		}
	}
	if !found {
		return s, errors.New("no output_sent yet")
	}
	return s, sc.Err()
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// clientReport is what scenario (c) prints on stdout.
type clientReport struct {
	Rate      float64 `json:"rate"`
	AllocsRow float64 `json:"allocs_row"`
	CPURow    float64 `json:"cpu_row"`
	PeakRSS   int64   `json:"peak_rss"`
	Err       string  `json:"err,omitempty"`
}

func runClientProcess(addr string, rows, batch int) result {
	res := result{name: "c"}
	self, err := os.Executable()
	must(err, "own executable")
	cmd := exec.Command(self, "-rows", strconv.Itoa(rows), "-batch", strconv.Itoa(batch))
	cmd.Env = append(os.Environ(), clientEnv+"="+addr)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		res.note = fmt.Sprintf("failed: %v", err)
		return res
	}
	var r clientReport
	if err := json.Unmarshal(out, &r); err != nil {
		res.note = fmt.Sprintf("bad report %q: %v", out, err)
		return res
	}
	res.rate, res.allocsRow, res.cpuRow, res.peakRSS, res.note = r.Rate, r.AllocsRow, r.CPURow, r.PeakRSS, r.Err
	return res
}

// runClient is scenario (c): the ingester's own Write loop, tables built
// with its table package, batch rows per call.
func runClient(addr string, rows, batch int) {
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	report := func(r clientReport) {
		r.PeakRSS = procstat.Status(os.Getpid(), "VmHWM")
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	}
	cli, err := greptime.NewClient(greptime.NewConfig(host).WithPort(port).WithDatabase("public"))
	if err != nil {
		report(clientReport{Err: err.Error()})
		return
	}
	defer cli.Close()
	g := newGen()
	ctx := context.Background()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start, cpu0 := time.Now(), protoceiling.SelfCPU()
	for done := 0; done < rows; {
		tbl, err := table.New("cpu")
		if err == nil {
			for _, t := range []string{"host", "region", "dc", "rack", "os"} {
				_ = tbl.AddTagColumn(t, types.STRING)
			}
			_ = tbl.AddFieldColumn("usage_user", types.FLOAT64)
			_ = tbl.AddFieldColumn("usage_system", types.FLOAT64)
			_ = tbl.AddFieldColumn("procs", types.INT64)
			err = tbl.AddTimestampColumn("ts", types.TIMESTAMP_MILLISECOND)
		}
		n := min(batch, rows-done)
		for i := 0; i < n && err == nil; i++ {
			p := g.next()
			err = tbl.AddRow(p.host, p.region, p.dc, p.rack, p.os, p.usageUser, p.usageSystem, p.procs, p.ts)
		}
		if err == nil {
			r, werr := cli.Write(ctx, tbl)
			if werr == nil && int(r.GetAffectedRows().GetValue()) != n {
				werr = fmt.Errorf("affected rows %d, want %d", r.GetAffectedRows().GetValue(), n)
			}
			err = werr
		}
		if err != nil {
			report(clientReport{Err: err.Error()})
			return
		}
		done += n
	}
	elapsed, cpu := time.Since(start), protoceiling.SelfCPU()-cpu0
	runtime.ReadMemStats(&ms1)
	report(clientReport{Rate: float64(rows) / elapsed.Seconds(), AllocsRow: float64(ms1.Mallocs-ms0.Mallocs) / float64(rows),
		CPURow: float64(cpu.Microseconds()) / float64(rows)})
}

func report(res map[string]result) {
	labels := map[string]string{
		"a": "(a) greptime output, 1 row/message",
		"b": "(b) same pipeline into drop",
		"c": "(c) ingester-go Write loop",
		"d": "(d) greptime output, ndjson 1,000 rows/message",
	}
	fmt.Println()
	fmt.Println("| scenario | rows/s | CPU µs/row | allocs/row | peak RSS (VmHWM) | of which file-backed | notes |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---|")
	for _, k := range []string{"a", "b", "c", "d"} {
		r, ok := res[k]
		if !ok {
			continue
		}
		file := "-"
		if r.fileRSS > 0 {
			file = fmt.Sprintf("%d MB", r.fileRSS>>20)
		}
		fmt.Printf("| %s | %.0f | %.2f | %.1f | %d MB | %s | %s |\n", labels[k], r.rate, r.cpuRow, r.allocsRow, r.peakRSS>>20, file, r.note)
	}
	a, b, c, d := res["a"].rate, res["b"].rate, res["c"].rate, res["d"].rate
	if b > 0 && c > 0 {
		bound := 1 / (1/b + 1/c)
		fmt.Printf("| shared-machine bound 1/(1/b+1/c) | %.0f | | | | | |\n", bound)
		if a > 0 {
			fmt.Printf("\nratio (a)/bound = %.2f (target >= 0.70)", a/bound)
			if cb, cc, ca := res["b"].cpuRow, res["c"].cpuRow, res["a"].cpuRow; ca > 0 && cb > 0 && cc > 0 {
				fmt.Printf("; by CPU per row: (b + c)/(a) = %.2f", (cb+cc)/ca)
			}
			fmt.Println()
		}
	}
	if c > 0 && d > 0 {
		fmt.Printf("ratio (d)/(c) = %.2f (target >= 0.70)", d/c)
		if cc, cd := res["c"].cpuRow, res["d"].cpuRow; cc > 0 && cd > 0 {
			fmt.Printf("; by CPU per row: (c)/(d) = %.2f", cc/cd)
		}
		fmt.Println()
	}
	for _, k := range []string{"a", "d"} {
		if r, ok := res[k]; ok && r.peakRSS > 0 {
			fmt.Printf("peak RSS (%s) = %d MB (target < 100 MB)\n", k, r.peakRSS>>20)
		}
	}
	if r, ok := res["b"]; ok && r.peakRSS > 0 {
		// The same binary and pipeline into drop: no output can use less.
		verdict := "below 100 MB: the target is within reach"
		if r.peakRSS >= 100e6 {
			verdict = "at or above 100 MB: the target is out of reach for any output in this binary"
		}
		fmt.Printf("memory floor, (b) drop alone: %d MB peak RSS, %s\n", r.peakRSS>>20, verdict)
	}
}
