// Command webhook benchmarks verified webhook ingestion (issue 4, "make bench").
//
// wrk (Debian package wrk) drives each setup on loopback with the same
// ~300-byte GitHub-style payload and a valid X-Hub-Signature-256, for a fixed
// duration each:
//
//	(a) a bare Go net/http handler checking the same HMAC (the ceiling)
//	(b) danube-connect: Benthos' stock http_server -> drop, no verification
//	(c) danube-connect: webhook_server + webhook_signature -> danube output into danubetest
//	(d) danube-connect: http_server + webhook_signature -> danube output into danubetest
//	(e) danube-connect: webhook_server -> drop (optional: the input alone, against (b))
//	(f) as (c) with the output not publishing webhook_* metadata (optional: what
//	    the input's extra metadata costs the danube output)
//
// and prints requests/s, p50/p99 latency, the ratios of (c) and (d) to (a)
// and (b), what reached the broker, and the peak RSS of each danube-connect
// process (a subprocess; its VmHWM). The in-process danubetest
// broker and wrk share the machine's cores with the setup under test.
//
//	go run ./integration/bench/webhook [-duration 10s] [-connections 32] [-scenarios a,b,c,d] [-rounds 1]
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/danube-connect/danube-connect/integration/bench/internal/protoceiling"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"

	"github.com/danube-connect/danube-connect/integration/bench/internal/benchbuild"
	"github.com/danube-connect/danube-connect/integration/bench/internal/procstat"
	"github.com/danube-connect/danube-connect/internal/testnet"
)

const secret = "bench-secret-please-rotate"

var profile *string

// payload is a ~300-byte GitHub "issues" event.
const payload = `{"action":"opened","issue":{"id":1001,"number":42,"title":"Crash when the broker restarts","state":"open","user":{"login":"octocat","id":1},"labels":[{"name":"bug"}]},"repository":{"id":1296269,"full_name":"octo/hello-world","private":false},"sender":{"login":"octocat","id":1,"type":"User"},"installation":{"id":5}}`

type result struct {
	name       string
	rps        float64
	p50, p99   time.Duration
	requests   int64
	non2xx     int64
	sockErrors string
	published  int64 // -1: not applicable
	maxRSS     int64 // bytes; 0: not measured
}

func main() {
	protoceiling.ServeIfAsked()
	duration := flag.Duration("duration", 10*time.Second, "wrk duration per setup")
	connections := flag.Int("connections", 32, "wrk connections")
	threads := flag.Int("threads", 2, "wrk threads")
	profile = flag.String("cpuprofile", "", "if set, write a CPU profile of each danube-connect run (measured part) to this directory")
	rounds := flag.Int("rounds", 1, "run the scenario list this many times (interleaved, so a busy shared machine hits every setup alike) and report the median run of each")
	scenarios := flag.String("scenarios", "a,b,c,d", "setups to run: a (bare net/http), b (http_server->drop), c (webhook_server->danube), d (http_server->danube), e (webhook_server->drop), f (c without publishing webhook_* metadata)")
	flag.Parse()

	if _, err := exec.LookPath("wrk"); err != nil {
		fail("wrk not found: install the Debian package (apt-get install -y wrk)")
	}
	work, err := os.MkdirTemp("", "webhook-bench-")
	must(err, "creating a work directory")
	defer os.RemoveAll(work)

	bin := filepath.Join(work, "danube-connect")
	fmt.Fprintln(os.Stderr, "building danube-connect ...")
	must(benchbuild.Build(bin), "make build")

	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(payload))
	signature := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	script := filepath.Join(work, "post.lua")
	must(os.WriteFile(script, []byte(fmt.Sprintf(`wrk.method = "POST"
wrk.body = %q
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "GitHub-Hookshot/bench"
wrk.headers["X-GitHub-Event"] = "issues"
wrk.headers["X-Hub-Signature-256"] = %q
`, payload, signature)), 0o600), "writing the wrk script")

	broker, err := danubetest.New(danubetest.Options{})
	must(err, "starting the danubetest broker")
	defer broker.Close()

	w := wrkRunner{script: script, duration: *duration, connections: *connections, threads: *threads}
	runs := map[string][]*result{}
	for round := 0; round < *rounds; round++ {
		for _, sc := range strings.Split(*scenarios, ",") {
			sc = strings.TrimSpace(sc)
			var r *result
			switch sc {
			case "a":
				r = runBare(w)
			case "b":
				r = runBinary(w, bin, work, "(b) http_server -> drop", httpServerConfig("drop: {}"), "")
			case "c":
				before := published(broker, "/default/bench_webhook_server")
				r = runBinary(w, bin, work, "(c) webhook_server + webhook_signature -> danube", webhookServerConfig(broker.URL()), "/default/bench_webhook_server")
				r.published = published(broker, "/default/bench_webhook_server") - before
			case "f":
				before := published(broker, "/default/bench_webhook_server")
				r = runBinary(w, bin, work, "(f) as (c), webhook_* metadata not published", func(addr string) string {
					return strings.Replace(webhookServerConfig(broker.URL())(addr), "max_in_flight: 256", "max_in_flight: 256\n    metadata: { exclude_prefixes: [ webhook_ ] }", 1)
				}, "/default/bench_webhook_server")
				r.published = published(broker, "/default/bench_webhook_server") - before
			case "e":
				r = runBinary(w, bin, work, "(e) webhook_server -> drop", webhookServerDropConfig, "")
			case "d":
				before := published(broker, "/default/bench_http_server")
				r = runBinary(w, bin, work, "(d) http_server + webhook_signature -> danube", httpServerConfig(danubeOutput(broker.URL(), "/default/bench_http_server"), signatureProcessor), "/default/bench_http_server")
				r.published = published(broker, "/default/bench_http_server") - before
			default:
				fail("unknown scenario " + sc)
			}
			runs[sc] = append(runs[sc], r)
		}
	}
	results := map[string]*result{}
	for _, sc := range []string{"a", "b", "c", "d", "e", "f"} {
		rs := runs[sc]
		if len(rs) == 0 {
			continue
		}
		if len(rs) > 1 {
			fmt.Printf("\nround by round, %s:\n", rs[0].name)
			for i, r := range rs {
				fmt.Printf("  round %d: %8.0f req/s  p50 %v  p99 %v\n", i+1, r.rps, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond))
			}
		}
		results[sc] = medianByRPS(rs)
	}
	// What one publish costs by itself: the bare protocol, nothing of ours.
	var publishCeiling float64
	if results["c"] != nil && results["b"] != nil {
		c, err := protoceiling.Measure(100000, 64, len(payload), false)
		must(err, "measuring the bare SendMessage ceiling")
		publishCeiling = c.Rate
	}
	report(results, *duration, *connections, publishCeiling)
}

// medianByRPS is the run with the median throughput (the lower middle one
// for an even count).
func medianByRPS(rs []*result) *result {
	sorted := append([]*result(nil), rs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].rps < sorted[j].rps })
	return sorted[(len(sorted)-1)/2]
}

// --- setups ---

func runBare(w wrkRunner) *result {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err, "listening")
	key := []byte(secret)
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, 1<<20))
			if err != nil {
				http.Error(rw, `{"error":"bad request"}`, http.StatusBadRequest)
				return
			}
			got := r.Header.Get("X-Hub-Signature-256")
			m := hmac.New(sha256.New, key)
			m.Write(body)
			want := "sha256=" + hex.EncodeToString(m.Sum(nil))
			if !hmac.Equal([]byte(got), []byte(want)) {
				http.Error(rw, `{"error":"unauthorized"}`, http.StatusUnauthorized)
				return
			}
			rw.WriteHeader(http.StatusOK)
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	r := w.run("(a) bare net/http + HMAC", "http://"+ln.Addr().String()+"/hook")
	r.published = -1
	return r
}

const signatureProcessor = `
pipeline:
  processors:
    - webhook_signature:
        preset: github
        secrets: [ "` + secret + `" ]
`

func danubeOutput(url, topic string) string {
	return fmt.Sprintf(`
  danube:
    url: %s
    topic: %s
    max_in_flight: 256`, url, topic)
}

func httpServerConfig(output string, extra ...string) func(addr string) string {
	return func(addr string) string {
		return fmt.Sprintf(`
http: { enabled: false }
logger: { level: warn }
error_handling: { strict: true }
input:
  http_server:
    address: %s
    path: /hook
    ws_path: ""
    timeout: 5s
%s
output:
  %s
`, addr, strings.Join(extra, "\n"), output)
	}
}

// webhookServerDropConfig isolates the input: the same as (b) with webhook_server.
func webhookServerDropConfig(addr string) string {
	return fmt.Sprintf(`
http: { enabled: false }
logger: { level: warn }
input:
  webhook_server:
    address: %s
    path: /hook
    timeout: 5s
output:
  drop: {}
`, addr)
}

func webhookServerConfig(brokerURL string) func(addr string) string {
	return func(addr string) string {
		return fmt.Sprintf(`
http: { enabled: false }
logger: { level: warn }
error_handling: { strict: true }
input:
  webhook_server:
    address: %s
    path: /hook
    timeout: 5s
%s
output:
%s
`, addr, signatureProcessor, danubeOutput(brokerURL, "/default/bench_webhook_server"))
	}
}

// runBinary starts danube-connect with the config, drives it with wrk, then
// stops it with SIGTERM and reads its peak RSS.
func runBinary(w wrkRunner, bin, work, name string, conf func(addr string) string, topic string) *result {
	addr := freeAddr()
	cfg := filepath.Join(work, "bench.yaml")
	config := conf(addr)
	apiAddr := freeAddr()
	if *profile != "" {
		config = strings.Replace(config, "http: { enabled: false }", "http: { address: "+apiAddr+", debug_endpoints: true }", 1)
	}
	must(os.WriteFile(cfg, []byte(config), 0o600), "writing the config")
	cmd := exec.Command(bin, "run", cfg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	must(cmd.Start(), "starting danube-connect")
	stopPeak := procstat.WatchPeak(cmd.Process.Pid)
	waitServed(addr, "/hook")
	// Warm up (connections, producer creation) before measuring.
	warm := w
	warm.duration = 2 * time.Second
	_ = warm.run("warm-up", "http://"+addr+"/hook")
	profDone := make(chan struct{})
	if *profile != "" {
		go func() {
			defer close(profDone)
			secs := int((w.duration - time.Second).Seconds())
			res, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", apiAddr, secs))
			must(err, "fetching a CPU profile")
			defer res.Body.Close()
			must(os.MkdirAll(*profile, 0o755), "creating the profile directory")
			f, err := os.Create(filepath.Join(*profile, strings.Fields(name)[0][1:2]+".pprof"))
			must(err, "creating the profile file")
			defer f.Close()
			_, err = io.Copy(f, res.Body)
			must(err, "writing the profile")
		}()
	} else {
		close(profDone)
	}
	r := w.run(name, "http://"+addr+"/hook")
	<-profDone
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	r.maxRSS = stopPeak()
	return r
}

func published(b *danubetest.Broker, topic string) int64 {
	st, ok := b.Stats(topic)
	if !ok {
		return 0
	}
	return int64(st.Messages)
}

// --- wrk ---

type wrkRunner struct {
	script      string
	duration    time.Duration
	connections int
	threads     int
}

var (
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reRequests = regexp.MustCompile(`(\d+) requests in`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reSocket   = regexp.MustCompile(`Socket errors:[^\n]*`)
	rePct      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

func (w wrkRunner) run(name, url string) *result {
	fmt.Fprintf(os.Stderr, "%s: wrk %v ...\n", name, w.duration)
	out, err := exec.Command("wrk", "-t", strconv.Itoa(w.threads), "-c", strconv.Itoa(w.connections),
		"-d", w.duration.String(), "--latency", "-s", w.script, url).CombinedOutput()
	must(err, "running wrk:\n"+string(out))
	s := string(out)
	r := &result{name: name}
	if m := reRPS.FindStringSubmatch(s); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reRequests.FindStringSubmatch(s); m != nil {
		r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reNon2xx.FindStringSubmatch(s); m != nil {
		r.non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	r.sockErrors = reSocket.FindString(s)
	for _, m := range rePct.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		d := time.Duration(v * float64(unit))
		if m[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	return r
}

// --- helpers ---

func report(res map[string]*result, d time.Duration, conns int, publishCeiling float64) {
	fmt.Printf("\nwebhook ingestion, ~%d-byte signed GitHub payload, wrk %v x %d connections on loopback\n\n", len(payload), d, conns)
	fmt.Printf("%-52s %12s %10s %10s %10s %10s %10s\n", "setup", "requests/s", "p50", "p99", "non-2xx", "published", "peak RSS")
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		r, ok := res[k]
		if !ok {
			continue
		}
		pub, rss := "-", "-"
		if r.published >= 0 {
			pub = strconv.FormatInt(r.published, 10)
		}
		if r.maxRSS > 0 {
			rss = fmt.Sprintf("%.1f MB", float64(r.maxRSS)/1e6)
		}
		fmt.Printf("%-52s %12.0f %10v %10v %10d %10s %10s\n", r.name, r.rps, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.non2xx, pub, rss)
		if r.sockErrors != "" {
			fmt.Printf("    %s\n", r.sockErrors)
		}
	}
	ratio := func(x, y string) {
		if res[x] != nil && res[y] != nil && res[y].rps > 0 {
			fmt.Printf("(%s)/(%s) = %.2f\n", x, y, res[x].rps/res[y].rps)
		}
	}
	fmt.Println()
	ratio("c", "a")
	ratio("c", "b")
	ratio("d", "a")
	ratio("d", "b")
	ratio("c", "d")
	ratio("e", "b")
	if c := res["c"]; c != nil {
		fmt.Println()
		verdict := func(ok bool) string {
			if ok {
				return "met"
			}
			return "NOT met"
		}
		fmt.Printf("target (c) >= 10,000 verified webhooks/s: %.0f/s, %s\n", c.rps, verdict(c.rps >= 10000 && c.non2xx == 0))
		fmt.Printf("target (c) p99 < 10 ms: %v, %s\n", c.p99, verdict(c.p99 > 0 && c.p99 < 10*time.Millisecond))
		if b := res["b"]; b != nil {
			fmt.Printf("target (c) >= (b): %.0f vs %.0f, %s\n", c.rps, b.rps, verdict(c.rps >= b.rps))
			if publishCeiling > 0 {
				// (b) and the bare publish each saturate the same two cores,
				// so their costs per request add up in anything that does
				// both: an HTTP ingress as cheap as the cheaper of (b), (e)
				// plus one bare grpc-go SendMessage per request.
				ingress := b.rps
				if e := res["e"]; e != nil && e.rps > ingress {
					ingress = e.rps
				}
				bound := 1 / (1/ingress + 1/publishCeiling)
				fmt.Printf("  bound: bare grpc-go SendMessage alone (client + server, %d-byte payload) runs at %.0f msg/s here; an ingress at %.0f req/s\n", len(payload), publishCeiling, ingress)
				fmt.Printf("  plus one such publish per request reaches at most 1/(1/%.0f + 1/%.0f) = %.0f req/s = %.2f of (b), whatever the code\n", ingress, publishCeiling, bound, bound/b.rps)
			}
		}
		fmt.Printf("target (c) peak RSS < 100 MB: %.1f MB, %s\n", float64(c.maxRSS)/1e6, verdict(c.maxRSS > 0 && c.maxRSS < 100e6))
		// Everything acknowledged must be on the broker (warm-up included).
		fmt.Printf("(c) published %d, 2xx answered in the measured run %d\n", c.published, c.requests-c.non2xx)
	}
}

func waitServed(addr, path string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("TRACE", "http://"+addr+path, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	fail("danube-connect did not serve " + path + " on " + addr)
}

func freeAddr() string {
	addr, err := testnet.Addr()
	must(err, "finding a free port")
	return addr
}

func must(err error, what string) {
	if err != nil {
		fail(fmt.Sprintf("%s: %v", what, err))
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "webhook bench:", msg)
	os.Exit(1)
}
