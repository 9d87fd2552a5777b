// Command diskbuffer measures what the `disk` buffer does for a Danube
// pipeline whose sink acknowledges slowly: danube (exclusive subscription)
// → delta_lake (flush_period 1s) on the in-process danubetest broker with
// the real window of 10 unacknowledged messages, with no buffer, with the
// disk buffer, and with the (not durable) memory buffer as the ceiling of
// what the input can take with this window. It prints a Markdown table:
//
//	go run ./integration/bench/diskbuffer [-n 20000] [-max-unacked 10] [-bin path/to/danube-connect]
//
// Each scenario subscribes first (a new subscription starts at the newest
// message), produces a backlog of n messages, then starts danube-connect
// as a subprocess and samples the broker's acknowledged cursor every 20 ms
// (consumed msg/s, from the first to the last acknowledgement or for at
// most -window) and the process's delta_lake_rows counter (rows committed
// to the table). Peak RSS is the process's VmHWM.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"

	"github.com/danube-connect/danube-connect/integration/bench/internal/procstat"
	"github.com/danube-connect/danube-connect/internal/testnet"

	"github.com/danube-connect/danube-connect/integration/bench/internal/benchbuild"
)

func main() {
	n := flag.Int("n", 20000, "backlog of messages per scenario")
	maxUnacked := flag.Int("max-unacked", 10, "broker window of unacknowledged messages per subscription (danube-broker v0.15.1: 10)")
	window := flag.Duration("window", 15*time.Second, "longest measurement per scenario")
	bin := flag.String("bin", "", "danube-connect binary (built from ./cmd/danube-connect when empty)")
	flag.Parse()
	if err := run(*n, *maxUnacked, *window, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "diskbuffer bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name       string
	consumed   int64
	rate       float64 // consumed msg/s (broker acknowledgements)
	committed  int64   // rows in the table when the measurement ended
	e2eRate    float64 // rows committed per second, first to last
	peakRSS    int64
	commitNote string // the disk buffer's group commits
}

type scenario struct {
	name   string
	buffer string // YAML of the buffer section, "" for none
}

func run(n, maxUnacked int, window time.Duration, bin string) error {
	dir, err := os.MkdirTemp("", "diskbuffer-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		if bin, err = build(dir); err != nil {
			return err
		}
	}
	broker, err := danubetest.New(danubetest.Options{MaxUnacked: maxUnacked})
	if err != nil {
		return err
	}
	defer broker.Close()

	scenarios := []scenario{
		{"danube -> delta_lake, no buffer", ""},
		{"danube -> disk buffer -> delta_lake", fmt.Sprintf("buffer:\n  disk:\n    path: %s\n    max_bytes: 1GiB\n", filepath.Join(dir, "buffer"))},
		{"danube -> memory buffer -> delta_lake (not durable: ceiling)", "buffer:\n  memory: {}\n"},
	}
	var results []result
	for i, sc := range scenarios {
		r, err := measure(broker, bin, dir, i, sc, n, window)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		fmt.Fprintf(os.Stderr, "%-62s %8.0f msg/s consumed, %8.0f rows/s committed\n", r.name, r.rate, r.e2eRate)
		results = append(results, r)
	}

	base := results[0].rate
	fmt.Println()
	fmt.Println("| scenario | consumed msg/s | rows/s committed | consumed vs no buffer | peak RSS |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Printf("| %s | %.0f | %.0f | %.1fx | %d MB |\n", r.name, r.rate, r.e2eRate, r.rate/base, r.peakRSS>>20)
	}
	for _, r := range results {
		if r.commitNote != "" {
			fmt.Printf("\n%s: %s.\n", r.name, r.commitNote)
		}
	}
	fmt.Printf("\nBacklog of %d messages (~40 B JSON) per scenario, broker: in-process danubetest with a window of %d, delta_lake flush_period 1s on local disk; "+
		"a scenario is measured for at most %s. Issue 12's target for the disk buffer: at least 5,000 msg/s consumed (about 10 msg/s without it).\n",
		n, maxUnacked, window)
	return nil
}

func measure(broker *danubetest.Broker, bin, dir string, i int, sc scenario, n int, window time.Duration) (result, error) {
	res := result{name: sc.name}
	topic := fmt.Sprintf("/default/diskbuffer-bench-%d", i)
	const sub, consumer = "lake", "bench-lake"
	if err := broker.CreateTopic(topic, true); err != nil {
		return res, err
	}
	if err := subscribe(broker.URL(), topic, sub, consumer); err != nil {
		return res, err
	}
	if err := produce(broker.URL(), topic, n); err != nil {
		return res, err
	}
	port, err := testnet.Port()
	if err != nil {
		return res, err
	}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	cfg := fmt.Sprintf(`
http: { address: 127.0.0.1:%d }
logger: { level: warn }
input:
  danube:
    url: %s
    topics: [ %s ]
    subscription: %s
    subscription_type: exclusive
    consumer_name: %s
%s
output:
  delta_lake:
    path: %s
    flush_period: 1s
    writer_id: bench
    batching: { count: 2000, period: 50ms }
`, port, broker.URL(), topic, sub, consumer, sc.buffer, filepath.Join(dir, fmt.Sprintf("table-%d", i)))
	path := filepath.Join(dir, fmt.Sprintf("run-%d.yaml", i))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return res, err
	}
	cmd := exec.Command(bin, "run", path)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return res, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	acked := func() int64 {
		st, _ := broker.Stats(topic)
		return int64(st.Subscriptions[sub].AckedCursor)
	}
	// Consumption: from the first acknowledgement to the last (or the window).
	startDeadline := time.Now().Add(60 * time.Second)
	for acked() == 0 {
		if time.Now().After(startDeadline) {
			return res, errors.New("nothing consumed within 60s")
		}
		select {
		case err := <-exited:
			return res, fmt.Errorf("danube-connect exited: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	start, from := time.Now(), acked()
	var firstRow time.Time
	var rowsFrom int64
	deadline := start.Add(window)
	lastAck, lastAckAt := from, start
	for time.Now().Before(deadline) {
		if a := acked(); a != lastAck {
			lastAck, lastAckAt = a, time.Now()
		}
		rows, _ := scrapeRows(metricsURL)
		if rows > 0 && firstRow.IsZero() {
			firstRow, rowsFrom = time.Now(), rows
		}
		res.committed = rows
		if rows >= int64(n) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.consumed = lastAck - from
	if d := lastAckAt.Sub(start).Seconds(); d > 0 {
		res.rate = float64(res.consumed) / d
	}
	if !firstRow.IsZero() {
		if d := time.Since(firstRow).Seconds(); d > 0 && res.committed > rowsFrom {
			res.e2eRate = float64(res.committed-rowsFrom) / d
		}
	}
	res.peakRSS = procstat.Status(cmd.Process.Pid, "VmHWM")
	if m, err := scrape(metricsURL); err == nil && m["disk_buffer_commits"] > 0 {
		res.commitNote = fmt.Sprintf("%.1f messages per commit, commit p50 %.2f ms, p90 %.2f ms",
			m["disk_buffer_written"]/m["disk_buffer_commits"],
			quantile(m, "disk_buffer_commit_latency_ns", "0.5")/1e6, quantile(m, "disk_buffer_commit_latency_ns", "0.9")/1e6)
	}
	return res, nil
}

func subscribe(url, topic, sub, consumer string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.New(client.Options{URL: url})
	if err != nil {
		return err
	}
	defer cl.Close()
	c, err := cl.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: sub, Type: client.SubscriptionExclusive, ConsumerName: consumer})
	if err != nil {
		return fmt.Errorf("subscribing %s to %s: %w", sub, topic, err)
	}
	return c.Close()
}

func produce(url, topic string, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl, err := client.New(client.Options{URL: url})
	if err != nil {
		return err
	}
	defer cl.Close()
	p, err := cl.NewProducer(ctx, client.ProducerOptions{Topic: topic, Dispatch: client.DispatchReliable})
	if err != nil {
		return err
	}
	// 64 sends in flight: filling the backlog is not what is measured.
	sem := make(chan struct{}, 64)
	errc := make(chan error, 1)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			if _, err := p.Send(ctx, client.OutgoingMessage{Payload: fmt.Appendf(nil, `{"id":%d,"body":"event %d"}`, i, i)}); err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		}()
	}
	for i := 0; i < cap(sem); i++ {
		sem <- struct{}{}
	}
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// scrape reads the process's Prometheus metrics: each value by its full
// series name (with labels) and, summed, by its bare metric name.
func scrape(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		series := line[:sp]
		out[series] = v
		if br := strings.IndexByte(series, '{'); br > 0 {
			out[series[:br]] += v
		}
	}
	return out, sc.Err()
}

// quantile finds a summary quantile of a metric, whatever its other labels.
func quantile(m map[string]float64, name, q string) float64 {
	for series, v := range m {
		if strings.HasPrefix(series, name+"{") && strings.Contains(series, `quantile="`+q+`"`) {
			return v
		}
	}
	return 0
}

func scrapeRows(url string) (int64, error) {
	m, err := scrape(url)
	return int64(m["delta_lake_rows"]), err
}

func build(dir string) (string, error) {
	out := filepath.Join(dir, "danube-connect")
	return out, benchbuild.Build(out)
}
