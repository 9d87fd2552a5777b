// Command lancedb benchmarks the lancedb output (issue 9, "make bench").
//
// For each vector dimension (768 and 1536 by default) it generates, once
// (cached under ~/.cache/danube-connect/bench/), files of rows with an id, a
// text of about 200 bytes and a float32 vector, and runs:
//
//	(a) danube-connect: file input, one row per message, JSON vectors -> lancedb
//	(b) the same pipeline into drop (the framework's ceiling)
//	(c) Python lancedb: table.add(pyarrow table) in batches of the same size
//	    (the native core's rate: only the adds are timed)
//	(d) as (a) with vector_encoding: base64_f32
//	(e) as (d) with payload_format: ndjson, 1,000 rows per message
//	(m) (e) within a memory budget: max_in_flight 1 and GOMEMLIMIT=64MiB,
//	    the output's documented settings for tight memory
//	(p) our row decoder alone (lancerows, in the bench process, one goroutine
//	    per core) on the input of (a): the work any lancedb pipeline adds to (b)
//	(f) the input of (e) into drop, as (b) is for (a)
//	(q) the decoder alone on the input of (e), as (p) is for (a)
//
// and the shared-machine bounds of (a), 1/(1/(b) + 1/(p) + 1/(c)), and of
// (e), 1/(1/(f) + 1/(q) + 1/(c)): the rate at which the framework, the
// decoder and the native add, each measured alone on the whole machine, can
// run together on it;
// and prints vectors/s, MB/s (input bytes; Arrow bytes for (c)), the ratios
// to (b) and (c) and the peak RSS of each process. Every scenario but (p)
// and (q) is its own process; those two run in the bench process and show
// no peak RSS. The machine may be shared: compare ratios, not absolute
// rates.
//
// It needs a danube-connect built with LanceDB support: it builds one with
// -tags lancedb, linking the archive resources/scripts/lancedb-native.sh
// prints (CGO_LDFLAGS from the environment wins), and $DC_PYTHON with the
// lancedb package for (c) (make services).
//
// The tables go to /dev/shm by default (-table-dir): all scenarios write
// the same bytes, and a shared disk's speed varies more than what is
// compared.
//
//	go run ./integration/bench/lancedb [-rows768 100000] [-rows1536 20000] [-batch768 800] [-batch1536 400] [-max-in-flight 2] [-scenarios a,b,c,d,e,m,p,f,q] [-table-dir DIR]
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/danube-connect/danube-connect/integration/bench/internal/benchbuild"
	"github.com/danube-connect/danube-connect/integration/bench/internal/procstat"
	"github.com/danube-connect/danube-connect/plugins/jsonrows"
	"github.com/danube-connect/danube-connect/plugins/lancedb/lancerows"
)

type result struct {
	name    string
	seconds float64
	rows    int64
	bytes   int64
	maxRSS  int64 // bytes
	anon    int64 // peak anonymous RSS, bytes
	file    int64 // peak file-backed RSS (the binary's pages), bytes
	cpu     float64
	note    string
}

func (r result) vps() float64 { return float64(r.rows) / r.seconds }

func main() {
	rows768 := flag.Int("rows768", 100000, "rows at 768 dimensions (0 skips)")
	rows1536 := flag.Int("rows1536", 20000, "rows at 1536 dimensions (0 skips)")
	// Batching periods are 200 ms, not the output's 1 s: a finite input
	// ends with a partial batch that waits for the period, which would add
	// up to a second to runs of a few seconds.
	// The batch sizes match the output's defaults: its default batching closes a
	// batch at 8 MiB of messages, ~860 JSON rows at 768-d and ~430 at 1536-d.
	batch768 := flag.Int("batch768", 800, "rows per add at 768-d: output batching (rows), Python batch size")
	batch1536 := flag.Int("batch1536", 400, "rows per add at 1536-d")
	maxInFlight := flag.Int("max-in-flight", 2, "max_in_flight of the output")
	scenarios := flag.String("scenarios", "a,b,c,d,e,m,p,f,q", "scenarios to run")
	keep := flag.Bool("keep", false, "keep the written tables")
	// Memory, not disk, by default: every scenario writes the same bytes,
	// and this VM's shared disk varied threefold between runs, which
	// swamped the ratio of (e) to (c) (both then wait on the disk).
	tableDir := flag.String("table-dir", defaultTableDir(), "where the tables go (empty: a temporary directory)")
	generateOnly := flag.Bool("generate-only", false, "only write the cached input files")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of scenario (p) to this file")
	flag.Parse()
	if *generateOnly {
		for _, d := range []struct{ dim, rows int }{{768, *rows768}, {1536, *rows1536}} {
			if d.rows > 0 {
				ensureData(d.dim, d.rows)
			}
		}
		return
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*scenarios, ",") {
		want[strings.TrimSpace(s)] = true
	}

	work, err := os.MkdirTemp("", "lancedb-bench")
	must(err, "temp dir")
	tables := work
	if *tableDir != "" {
		tables, err = os.MkdirTemp(*tableDir, "lancedb-bench")
		must(err, "table dir")
	}
	if !*keep {
		defer os.RemoveAll(work)
		defer os.RemoveAll(tables)
	}
	fmt.Printf("tables written under %s\n", tables)
	var bin string
	if want["a"] || want["b"] || want["d"] || want["e"] || want["m"] || want["f"] {
		bin = buildBinary(work)
	}
	py := os.Getenv("DC_PYTHON")
	if want["c"] && py == "" {
		must(fmt.Errorf("DC_PYTHON is not set"), "scenario (c) needs Python lancedb: run `make services` and source ~/.cache/danube-connect/services.env")
	}

	for _, run := range []struct{ dim, rows, batch int }{{768, *rows768, *batch768}, {1536, *rows1536, *batch1536}} {
		if run.rows == 0 {
			continue
		}
		batch := &run.batch
		files := ensureData(run.dim, run.rows)
		fmt.Printf("\n== lancedb: %d rows of %d-d float32 vectors, batches of %d rows, max_in_flight %d\n",
			run.rows, run.dim, *batch, *maxInFlight)
		var res []result
		// lancedb runs the output on data (messages separated by sep) with
		// the given batching policy and max_in_flight, env added to the
		// process environment.
		lancedb := func(name, data, sep, extra, batching string, inFlight int, env ...string) result {
			out := fmt.Sprintf(`  lancedb:
    uri: %s
    table: %s%d
    vector: { dimension: %d }
    columns: [ { name: text, type: string } ]
%s    max_in_flight: %d
    batching: %s
`, filepath.Join(tables, "db"), name[:1], run.dim, run.dim, extra, inFlight, batching)
			return runPipeline(bin, work, name, data, int64(run.rows), out, sep, env...)
		}
		rowBatches := fmt.Sprintf("{ count: %d, period: 200ms }", *batch)
		// Each message of (e) is a batch of 1,000 rows already: a batch
		// of one message, no period to wait for.
		const ndjson = "    payload_format: ndjson\n    vector_encoding: base64_f32\n"
		if want["a"] {
			res = append(res, lancedb("a lancedb json", files.json, "\n", "", rowBatches, *maxInFlight))
		}
		if want["b"] {
			res = append(res, runPipeline(bin, work, "b drop", files.json, int64(run.rows), fmt.Sprintf(`  broker:
    outputs: [ { drop: {} } ]
    batching: { count: %d, period: 200ms }
`, *batch), "\n"))
		}
		if want["c"] {
			res = append(res, runPython(py, tables, run.dim, run.rows, *batch))
		}
		if want["d"] {
			res = append(res, lancedb("d lancedb base64", files.b64, "\n", "    vector_encoding: base64_f32\n", rowBatches, *maxInFlight))
		}
		if want["e"] {
			res = append(res, lancedb("e lancedb ndjson x1000", files.ndjson, groupSep, ndjson, "{ count: 1 }", *maxInFlight))
		}
		if want["m"] {
			res = append(res, lancedb("m (e) memory budget", files.ndjson, groupSep, ndjson, "{ count: 1 }", 1, "GOMEMLIMIT=64MiB"))
		}
		if want["p"] {
			res = append(res, decodeRate("p decode only (Go)", files.json, run.dim, *batch, false, *cpuProfile))
		}
		if want["f"] {
			res = append(res, runPipeline(bin, work, "f ndjson x1000 drop", files.ndjson, int64(run.rows), "  drop: {}\n", groupSep))
		}
		if want["q"] {
			res = append(res, decodeRate("q decode ndjson x1000", files.ndjson, run.dim, 1, true, ""))
		}
		report(res)
	}
}

// decodeRate is scenario (p): the JSON input of (a) decoded into Arrow
// records of batch messages by lancerows, one goroutine per core, as fast as
// the machine allows (the file is read into memory first, untimed); with
// grouped, scenario (q): the same for the input of (e). It runs in the
// bench process, with a CPU profile to cpuProfile if not empty, and gives
// the memory back to the system before the next scenario's process starts.
func decodeRate(name, path string, dim, batch int, grouped bool, cpuProfile string) result {
	defer debug.FreeOSMemory()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		must(err, "cpu profile")
		must(pprof.StartCPUProfile(f), "cpu profile")
		defer pprof.StopCPUProfile()
	}
	data, err := os.ReadFile(path)
	must(err, "reading data")
	sep, format, encoding := "\n", jsonrows.FormatJSON, lancerows.EncodingJSON
	if grouped {
		sep, format, encoding = groupSep, jsonrows.FormatNDJSON, lancerows.EncodingBase64F32
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte(sep)), []byte(sep))
	rows := len(lines)
	if grouped {
		rows = bytes.Count(data, []byte("\n"))
	}
	schema := lancerows.Schema{
		ID:      lancerows.Column{Name: "id", Type: lancerows.String},
		Vector:  lancerows.Vector{Name: "vector", Dimension: dim, Encoding: encoding},
		Columns: []lancerows.Column{{Name: "text", Type: lancerows.String}},
	}
	must(schema.Validate(), "schema")
	layout, err := schema.Bind(schema.Arrow())
	must(err, "schema")
	workers := runtime.GOMAXPROCS(0)
	mem := lancerows.NewRecycler(2*workers + 2) // as the output does
	defer mem.Close()                           // unmaps the kept buffers: the bench process lives on
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			b := lancerows.NewBuilder(layout, format, mem)
			defer b.Release()
			// Batches dealt round-robin: worker w takes batches w, w+workers, ...
			for lo := w * batch; lo < len(lines); lo += workers * batch {
				hi := min(lo+batch, len(lines))
				b.Reserve(hi - lo)
				for _, line := range lines[lo:hi] {
					if _, err := b.Append(line); err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
						return
					}
				}
				b.NewRecord().Release()
			}
		}(w)
	}
	wg.Wait()
	res := result{name: name, seconds: time.Since(start).Seconds(), rows: int64(rows), bytes: int64(len(data))}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	res.cpu = time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()).Seconds()
	if failed != nil {
		res.note = "failed: " + failed.Error()
	}
	return res
}

// defaultTableDir is /dev/shm when it is a writable directory.
func defaultTableDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && syscall.Access("/dev/shm", 2) == nil {
		return "/dev/shm"
	}
	return ""
}

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
}

// buildBinary builds danube-connect with the lancedb tag.
func buildBinary(work string) string {
	bin := filepath.Join(work, "danube-connect")
	must(benchbuild.BuildLanceDB(bin), "make build-lancedb")
	return bin
}

func cacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "danube-connect")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "danube-connect")
}

type dataFiles struct{ json, b64, ndjson string }

// groupSep separates the 1,000-row messages of the ndjson file.
const groupSep = "\x1e\n"

// ensureData writes (once) the three input files for dim and rows.
func ensureData(dim, rows int) dataFiles {
	dir := filepath.Join(cacheDir(), "bench", "lancedb")
	must(os.MkdirAll(dir, 0o755), "cache dir")
	prefix := filepath.Join(dir, fmt.Sprintf("d%d-n%d", dim, rows))
	f := dataFiles{json: prefix + "-json.jsonl", b64: prefix + "-b64.jsonl", ndjson: prefix + "-b64-x1000.ndjson"}
	if _, err := os.Stat(f.ndjson); err == nil {
		return f
	}
	fmt.Fprintf(os.Stderr, "generating %s-*\n", prefix)
	rng := rand.New(rand.NewPCG(uint64(dim), uint64(rows)))
	open := func(p string) (*os.File, *bufio.Writer) {
		fh, err := os.Create(p + ".tmp")
		must(err, "creating data")
		return fh, bufio.NewWriterSize(fh, 1<<20)
	}
	fj, wj := open(f.json)
	fb, wb := open(f.b64)
	fn, wn := open(f.ndjson)
	vec := make([]float32, dim)
	raw := make([]byte, 4*dim)
	var line []byte
	text := strings.Repeat("lorem ipsum dolor sit amet ", 8)
	for i := 0; i < rows; i++ {
		var norm float64
		for j := range vec {
			vec[j] = float32(rng.NormFloat64())
			norm += float64(vec[j]) * float64(vec[j])
		}
		norm = math.Sqrt(norm)
		line = append(line[:0], `{"id":"`...)
		line = strconv.AppendInt(line, int64(i), 10)
		line = append(line, `","text":"`...)
		line = append(line, text...)
		line = append(line, `","vector":[`...)
		for j := range vec {
			vec[j] = float32(float64(vec[j]) / norm)
			if j > 0 {
				line = append(line, ',')
			}
			line = strconv.AppendFloat(line, float64(vec[j]), 'g', -1, 32)
			binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(vec[j]))
		}
		line = append(line, "]}\n"...)
		wj.Write(line)
		b := fmt.Sprintf(`{"id":"%d","text":"%s","vector":"%s"}`, i, text, base64.StdEncoding.EncodeToString(raw))
		wb.WriteString(b + "\n")
		wn.WriteString(b)
		if (i+1)%1000 == 0 || i == rows-1 {
			wn.WriteString(groupSep)
		} else {
			wn.WriteString("\n")
		}
	}
	for _, p := range []struct {
		f    *os.File
		w    *bufio.Writer
		path string
	}{{fj, wj, f.json}, {fb, wb, f.b64}, {fn, wn, f.ndjson}} {
		must(p.w.Flush(), "writing data")
		must(p.f.Close(), "writing data")
		must(os.Rename(p.path+".tmp", p.path), "writing data")
	}
	return f
}

// runPipeline runs danube-connect on data (messages separated by sep) into
// output, to the end of the input.
func runPipeline(bin, work, name, data string, rows int64, output, sep string, env ...string) result {
	fi, err := os.Stat(data)
	must(err, "stat data")
	cfg := fmt.Sprintf(`
http: { enabled: false }
logger: { level: warn }
input:
  file:
    paths: [ %s ]
    scanner:
      lines:
        custom_delimiter: %q
        max_buffer_size: 67108864
output:
%s
shutdown_timeout: 120s
`, data, sep, output)
	cfgPath := filepath.Join(work, strings.Fields(name)[0]+".yaml")
	must(os.WriteFile(cfgPath, []byte(cfg), 0o644), "writing config")
	cmd := exec.Command(bin, "run", cfgPath)
	cmd.Env = append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	start := time.Now()
	peak, err := procstat.RunPeaks(cmd)
	res := result{name: name, seconds: time.Since(start).Seconds(), rows: rows, bytes: fi.Size(), maxRSS: peak.RSS, anon: peak.Anon, file: peak.File}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	if err != nil || strings.Contains(logs.String(), "level=error") {
		res.note = fmt.Sprintf("failed: %v; last log lines:\n%s", err, tail(logs.String(), 10))
	}
	return res
}

// pyBench is scenario (c): Python lancedb, only the adds timed.
const pyBench = `
import json, resource, sys, time
import lancedb, numpy as np, pyarrow as pa
uri, dim, rows, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(dim)
text = "lorem ipsum dolor sit amet " * 8
schema = pa.schema([pa.field("id", pa.string(), False), pa.field("vector", pa.list_(pa.float32(), dim), False), pa.field("text", pa.string())])
tables = []
for start in range(0, rows, batch):
    n = min(batch, rows - start)
    v = rng.standard_normal((n, dim), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    tables.append(pa.Table.from_arrays([pa.array([str(i) for i in range(start, start + n)]),
        pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), dim), pa.array([text] * n)], schema=schema))
db = lancedb.connect(uri)
tbl = db.create_table("c%d" % dim, schema=schema)
t0 = time.perf_counter()
for t in tables:
    tbl.add(t)
secs = time.perf_counter() - t0
assert tbl.count_rows() == rows
print(json.dumps({"seconds": secs, "bytes": sum(t.nbytes for t in tables)}))
`

func runPython(py, tables string, dim, rows, batch int) result {
	cmd := exec.Command(py, "-W", "ignore", "-c", pyBench, filepath.Join(tables, "pydb"), strconv.Itoa(dim), strconv.Itoa(rows), strconv.Itoa(batch))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	peak, err := procstat.RunPeaks(cmd)
	out := stdout.Bytes()
	res := result{name: "c python lancedb", rows: int64(rows), maxRSS: peak.RSS, anon: peak.Anon, file: peak.File}
	if err != nil {
		res.note = fmt.Sprintf("failed: %v: %s", err, tail(stderr.String(), 10))
		res.seconds = math.NaN()
		return res
	}
	var secs float64
	var bytes int64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), `{"seconds": %g, "bytes": %d}`, &secs, &bytes); err != nil {
		res.note = "unreadable output: " + string(out)
		res.seconds = math.NaN()
		return res
	}
	res.seconds, res.bytes = secs, bytes
	return res
}

// bounds name, by scenario letter, each pipeline with its framework-only
// run into drop and its decoder-only run, for the shared-machine bound.
var bounds = [][3]string{{"a", "b", "p"}, {"e", "f", "q"}, {"m", "f", "q"}}

func report(res []result) {
	by := map[string]result{} // by scenario letter
	for _, r := range res {
		by[r.name[:1]] = r
	}
	b, c := by["b"], by["c"]
	fmt.Printf("%-24s %10s %12s %9s %8s %8s %10s %15s %8s\n", "scenario", "seconds", "vectors/s", "MB/s", "÷(b)", "÷(c)", "peak RSS", "anon / file", "CPU s")
	for _, r := range res {
		ratio := func(base result) string {
			if !ok(base) {
				return "-"
			}
			return fmt.Sprintf("%.2f", r.vps()/base.vps())
		}
		rss, split := "-", "-"
		if r.maxRSS > 0 {
			rss = fmt.Sprintf("%.0fMB", float64(r.maxRSS)/1e6)
			split = fmt.Sprintf("%.0f / %.0fMB", float64(r.anon)/1e6, float64(r.file)/1e6)
		}
		fmt.Printf("%-24s %10.2f %12.0f %9.1f %8s %8s %10s %15s %8.1f\n", r.name, r.seconds, r.vps(),
			float64(r.bytes)/r.seconds/1e6, ratio(b), ratio(c), rss, split, r.cpu)
		if r.note != "" {
			fmt.Printf("    %s\n", r.note)
		}
	}
	for _, bd := range bounds {
		name, in, dec := bd[0], bd[1], bd[2]
		if !ok(by[in]) || !ok(by[dec]) || !ok(c) {
			continue
		}
		v := 1 / (1/by[in].vps() + 1/by[dec].vps() + 1/c.vps())
		fmt.Printf("shared-machine bound of (%s) 1/(1/(%s) + 1/(%s) + 1/(c)) = %.0f vectors/s = %.2f of (%s), %.2f of (c)",
			name, in, dec, v, v/by[in].vps(), in, v/c.vps())
		if ok(by[name]) {
			fmt.Printf("; (%s) is %.2f of it", name, by[name].vps()/v)
		}
		fmt.Println(" (all on the same two cores)")
	}
	fmt.Println("peak RSS: VmHWM; anon / file: the largest anonymous and file-backed (mostly the binary's code) parts sampled")
	fmt.Println("targets: (a) >= 10,000 vectors/s at 768-d and >= 0.7 of (b); (e) >= 0.5 of (c); peak RSS < 200 MB at 1536-d ((m) for (e))")
}

func ok(r result) bool { return r.rows > 0 && r.seconds > 0 && !math.IsNaN(r.seconds) }

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
