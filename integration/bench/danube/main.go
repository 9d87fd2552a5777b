// Command danube benchmarks the danube input and output of the real
// danube-connect binary against the in-process danubetest broker (or a real
// broker when DANUBE_BROKER_URL is set), with 1 KiB payloads, and prints a
// Markdown table:
//
//	go run ./integration/bench/danube [-n 50000] [-bin path/to/danube-connect]
//
// The broker's window of unacknowledged messages per subscription is the
// real default, 10, for the main consume and end-to-end rows; rows labelled
// "window 1000" raise it on the double only (a standalone v0.15.1 broker
// ignores per-subscription dispatch settings). The "throughput cap" rows
// measure what that window means: an output that takes L to acknowledge
// consumes at most about 10/L messages per second per subscription. Against
// a real broker a lagging subscription loses messages (see the README); the
// consuming rows then report what was delivered and what the input counted
// as skipped (danube_input_skipped_messages), and measure the rate over
// what was delivered. DANUBE_BROKER_PID, when set, lets the CPU column
// include a real broker's CPU.
//
// Every scenario runs danube-connect as a subprocess. Throughput is taken
// from the process's own Prometheus counters (messages acknowledged by the
// output), sampled every 100 ms from the first to the last message, so
// process start-up is excluded. Allocations per message come from
// go_memstats_mallocs_total over the same window; CPU per message from
// /proc/<pid>/stat (danube-connect) and getrusage (this process, the broker)
// over the same window. Peak RSS is the subprocess's own high-water mark
// (VmHWM in /proc/<pid>/status), read every 5 ms until it exits: in this
// sandbox wait4's ru_maxrss sometimes reports far more than any sample of the
// process's RSS once several children have run (a 2 ms VmRSS sampler agrees
// with VmHWM), so it is only printed alongside, on stderr.
//
// The protocol-ceiling rows run a bare grpc-go client and server (see
// integration/bench/internal/protoceiling) doing only what the protocol requires per message; they bound
// what any grpc-go client can do here.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/danube-connect/danube-connect/integration/bench/internal/protoceiling"
	"github.com/danube-connect/danube-connect/plugins/danube/client"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"

	"github.com/danube-connect/danube-connect/integration/bench/internal/procstat"
	"github.com/danube-connect/danube-connect/internal/testnet"

	"github.com/danube-connect/danube-connect/integration/bench/internal/benchbuild"
)

func main() {
	protoceiling.ServeIfAsked()
	n := flag.Int("n", 50000, "messages per scenario")
	baseN := flag.Int("baseline-n", 10000, "messages for the unbatched max_in_flight 1 scenarios")
	flag.IntVar(&extraWindow, "extra-window", 1000, "window of the labelled extra rows (double only; the main rows use the real default, 10)")
	bin := flag.String("bin", "", "danube-connect binary (built from ./cmd/danube-connect when empty)")
	flag.StringVar(&only, "only", "", "run only scenarios whose name contains this")
	flag.StringVar(&logFile, "log-file", "", "also append danube-connect's output here (e.g. with GODEBUG=gctrace=1)")
	flag.IntVar(&e2eInFlight, "e2e-max-in-flight", 8, "max_in_flight of the end-to-end scenario's danube output (batches of 100)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the bench process (the broker) here")
	flag.StringVar(&debugAddrFile, "debug-addr-file", "", "enable pprof on danube-connect and write its address here")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(*n, *baseN, *bin); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "danube bench:", err)
		os.Exit(1)
	}
}

var (
	extraWindow   int
	only          string
	debugAddrFile string
	e2eInFlight   int
	logFile       string
	inFlight      = 64 // calls in flight in the bare protocol ceiling, as max_in_flight in ours
)

// result is one measured scenario.
type result struct {
	name         string
	messages     int64
	rate         float64 // messages/s
	allocsPerMsg float64
	peakRSS      int64 // bytes: the process's VmHWM, last read just before it exited
	maxrss       int64 // bytes: wait4's ru_maxrss, printed for comparison
	fileRSS      int64 // bytes of peakRSS that are the binary's file-backed pages (at the end)
	// CPU per message: danube-connect's (or the bare client's) and the
	// broker's, the steadier figures on a shared machine.
	cpuPerMsg, brokerCPUPerMsg float64
	bare                       bool // a protocol-ceiling run: no danube-connect involved
	atLeast                    bool // the run fit in one sampling interval: rate is a lower bound
	// Consuming rows: distinct messages the output acknowledged and
	// messages the input reported skipped by the broker.
	consuming          bool
	delivered, skipped int64
	// Throughput-cap rows: the output's acknowledgement latency.
	ackLatency time.Duration
}

type bench struct {
	bin    string
	dir    string
	broker *danubetest.Broker // nil against a real broker
	url    string
	runID  string // topic suffix: a real broker keeps topics across runs
}

// realWindow is danube-broker's max_unacked_messages, fixed in standalone mode.
const realWindow = 10

func run(n, baseN int, bin string) error {
	dir, err := os.MkdirTemp("", "danube-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		if bin, err = build(dir); err != nil {
			return err
		}
	}
	bn := &bench{bin: bin, dir: dir, runID: strconv.FormatInt(time.Now().Unix()%1e6, 10)}
	brokerDesc := fmt.Sprintf("in-process danubetest (window %d; extra rows %d)", realWindow, extraWindow)
	if u := os.Getenv(danubetest.EnvBrokerURL); u != "" {
		bn.url = u
		brokerDesc = "real broker at " + u
	} else {
		// The real default window: the consume figures are what a user gets.
		b, err := danubetest.New(danubetest.Options{})
		if err != nil {
			return err
		}
		defer b.Close()
		bn.broker, bn.url = b, b.URL()
	}
	started := time.Now()

	var results []result
	add := func(r result, err error) error {
		if errors.Is(err, errSkipped) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		fmt.Fprintf(os.Stderr, "%-64s %9.0f msg/s  %6.1f allocs/msg  %4d MB VmHWM (wait4 maxrss %d MB)\n", r.name, r.rate, r.allocsPerMsg, r.peakRSS>>20, r.maxrss>>20)
		results = append(results, r)
		return nil
	}

	// Ten times the messages: the framework alone is fast enough that n of
	// them can pass within one 100 ms sample.
	if err := add(bn.generateDrop(10 * n)); err != nil {
		return err
	}
	if err := add(bareCeiling(ceilingSend, n, false)); err != nil {
		return err
	}
	if err := add(bareCeiling(ceilingFull, n, true)); err != nil {
		return err
	}
	produce := []struct {
		name          string
		n, mif, batch int
	}{
		{"produce, single messages, max_in_flight 1", baseN, 1, 0},
		{"produce, single messages, max_in_flight 64", n, 64, 0},
		{"produce, batches of 100, max_in_flight 1", n, 1, 100},
		{"produce, batches of 100, max_in_flight 64", n, 64, 100},
	}
	for i, p := range produce {
		topic := bn.topic(fmt.Sprintf("bench-produce-%d", i))
		// The last run fills the topic the consume scenario reads: its
		// subscription must exist first (new subscriptions start at the tail).
		last := i == len(produce)-1 && bn.broker != nil
		if last {
			if err := bn.prepareSubscription(topic, "bench-consume", "bench-consumer", realWindow); err != nil {
				return err
			}
		}
		if err := add(bn.produce(p.name, topic, p.n, p.mif, p.batch)); err != nil {
			return err
		}
		if last {
			if err := add(bn.consume(fmt.Sprintf("consume, danube input -> drop (window %d)", realWindow), topic, "bench-consume", "bench-consumer", p.n)); err != nil {
				return err
			}
		}
	}
	if bn.broker == nil {
		// A real broker: a backlog built before the consumer reads would
		// mostly be skipped, and producers hang while a subscription's only
		// consumer is disconnected (seen on v0.15.1), so the consumer runs
		// first and the topic is filled while it reads.
		topic := bn.topic("bench-consume")
		if err := bn.prepareSubscription(topic, "bench-consume", "bench-consumer", realWindow); err != nil {
			return err
		}
		r, err := bn.runProcess(fmt.Sprintf("consume, danube input -> drop (window %d, filled while consuming)", realWindow),
			[]string{bn.consumerConfig(topic, "bench-consume", "bench-consumer")}, "root.output", int64(n),
			func(addr string) { bn.fillWhenReady(addr, topic, n) })
		r.consuming = true
		if err := add(r, err); err != nil {
			return err
		}
	}
	if err := add(bn.endToEnd(n, realWindow)); err != nil {
		return err
	}
	if bn.broker != nil {
		// Extra rows: the window a throughput-tuned broker could give (the
		// double only; v0.15.1 in standalone mode does not allow it).
		topic := bn.topic("bench-consume-wide")
		if err := bn.prepareSubscription(topic, "bench-consume-wide", "bench-consumer-wide", extraWindow); err != nil {
			return err
		}
		if err := bn.fill(topic, n); err != nil {
			return err
		}
		if err := add(bn.consume(fmt.Sprintf("extra: consume, danube input -> drop (window %d, double only)", extraWindow), topic, "bench-consume-wide", "bench-consumer-wide", n)); err != nil {
			return err
		}
		if err := add(bn.endToEnd(n, extraWindow)); err != nil {
			return err
		}
	}
	for _, l := range []time.Duration{5 * time.Millisecond, 20 * time.Millisecond} {
		if err := add(bn.throughputCap(l)); err != nil {
			return err
		}
	}

	printTable(results)
	fmt.Printf("\n%d messages of 1 KiB per scenario (%d for max_in_flight 1 unbatched), broker: %s, total bench time %s.\n",
		n, baseN, brokerDesc, time.Since(started).Round(time.Second))
	return nil
}

// fillWhenReady fills topic once the danube-connect process at addr
// reports ready (its input subscribed).
func (bn *bench) fillWhenReady(addr, topic string, n int) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := bn.fill(topic, n); err != nil {
		fmt.Fprintf(os.Stderr, "filling %s: %v\n", topic, err)
	}
}

// producerStartDelay holds back the first message of a producing stream on
// a real broker, so that the consuming stream of the same process has
// subscribed (new subscriptions start at the newest message).
func (bn *bench) producerStartDelay() string {
	if bn.broker != nil {
		return ""
	}
	return `
pipeline:
  processors:
    - sleep: { duration: '${! if count("bench-start") == 1 { "3s" } else { "0s" } }' }`
}

// topic names a topic of this run.
func (bn *bench) topic(name string) string {
	if bn.broker != nil {
		return "/default/" + name
	}
	return "/default/" + name + "-" + bn.runID
}

// fill publishes n messages of 1 KiB to topic with an in-process client
// (not measured), 64 sends in flight.
func (bn *bench) fill(topic string, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl, err := client.New(client.Options{URL: bn.url})
	if err != nil {
		return err
	}
	defer cl.Close()
	p, err := cl.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "bench-fill", Dispatch: client.DispatchReliable})
	if err != nil {
		return err
	}
	payload := []byte(strings.Repeat("x", 1024))
	var next atomic.Int64
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := p.Send(ctx, client.OutgoingMessage{Payload: payload}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func build(dir string) (string, error) {
	out := filepath.Join(dir, "danube-connect")
	return out, benchbuild.Build(out)
}

var errSkipped = errors.New("skipped")

const payloadMapping = `root = "x".repeat(1024)`

const clientTuning = `
    backoff: { initial_interval: 10ms, max_interval: 500ms, max_retries: 100 }`

func (bn *bench) generateDrop(n int) (result, error) {
	cfg := fmt.Sprintf(`
input:
  generate: { count: %d, interval: "", batch_size: 100, mapping: '%s' }
output:
  drop: {}
`, n, payloadMapping)
	r, err := bn.runProcess("framework ceiling: generate -> drop", []string{cfg}, "root.output", int64(n))
	return r, err
}

func (bn *bench) produce(name, topic string, n, mif, batch int) (result, error) {
	batching := ""
	if batch > 0 {
		batching = fmt.Sprintf("\n    batching: { count: %d, period: 5ms }", batch)
	}
	cfg := fmt.Sprintf(`
input:
  generate: { count: %d, interval: "", batch_size: %d, mapping: '%s' }
output:
  danube:
    url: %s
    topic: %s
    producer_name: bench
    max_in_flight: %d%s%s
`, n, max(batch, 1), payloadMapping, bn.url, topic, mif, batching, clientTuning)
	return bn.runProcess(name, []string{cfg}, "root.output", int64(n))
}

func (bn *bench) consume(name, topic, sub, consumer string, n int) (result, error) {
	r, err := bn.runProcess(name, []string{bn.consumerConfig(topic, sub, consumer)}, "root.output", int64(n))
	r.consuming = true
	return r, err
}

// consumerConfig is a danube input on an exclusive subscription (so it
// detects skipped messages) into drop.
func (bn *bench) consumerConfig(topic, sub, consumer string) string {
	return fmt.Sprintf(`
input:
  danube:
    url: %s
    topics: [ %s ]
    subscription: %s
    subscription_type: exclusive
    consumer_name: %s%s
output:
  drop: {}
`, bn.url, topic, sub, consumer, clientTuning)
}

// throughputCap runs a producer at 1.5 times 10/L and a consumer whose
// messages each take L before the output acknowledges them (one message per
// transaction, more pipeline threads than the window), so the broker's
// window of 10 is the only limit: it consumes at most about 10/L msg/s.
func (bn *bench) throughputCap(l time.Duration) (result, error) {
	name := fmt.Sprintf("throughput cap: output acknowledges after %v (window %d)", l, realWindow)
	capRate := float64(realWindow) / l.Seconds()
	n := int(capRate * 6) // about 6 s at the cap
	topic := bn.topic(fmt.Sprintf("bench-cap-%dms", l.Milliseconds()))
	sub, consumer := "bench-cap", "bench-cap-consumer"
	if err := bn.prepareSubscription(topic, sub, consumer, realWindow); err != nil {
		return result{name: name}, err
	}
	// generate emits batch_size messages per 10 ms tick.
	perTick := max(int(capRate*1.5/100), 1)
	producer := fmt.Sprintf(`
input:
  generate: { count: %d, interval: 10ms, batch_size: %d, mapping: '%s' }
output:
  danube:
    url: %s
    topic: %s
    producer_name: bench-cap
    max_in_flight: 16%s%s
`, n, perTick, payloadMapping, bn.url, topic, clientTuning, bn.producerStartDelay())
	consumerCfg := fmt.Sprintf(`
input:
  danube:
    url: %s
    topics: [ %s ]
    subscription: %s
    subscription_type: exclusive
    consumer_name: %s
    max_batch_size: 1%s
pipeline:
  threads: %d
  processors:
    - sleep: { duration: %s }
output:
  drop: {}
`, bn.url, topic, sub, consumer, clientTuning, 4*realWindow, l)
	r, err := bn.runProcess(name, []string{producer, consumerCfg}, `stream="consume"`, int64(n))
	r.consuming, r.ackLatency = true, l
	return r, err
}

// endToEnd runs a producing and a consuming stream in one process (streams
// mode) over one topic and counts what the consumer acknowledged.
func (bn *bench) endToEnd(n, window int) (result, error) {
	topic := bn.topic(fmt.Sprintf("bench-e2e-w%d", window))
	sub, consumer := fmt.Sprintf("bench-e2e-w%d", window), fmt.Sprintf("bench-e2e-consumer-w%d", window)
	name := fmt.Sprintf("end to end: generate -> danube -> danube -> drop (1 process, window %d)", window)
	if window != realWindow {
		name = fmt.Sprintf("extra: end to end (window %d, double only)", window)
	}
	if err := bn.prepareSubscription(topic, sub, consumer, window); err != nil {
		return result{name: name}, err
	}
	producer := fmt.Sprintf(`
input:
  generate: { count: %d, interval: "", batch_size: 100, mapping: '%s' }
output:
  danube:
    url: %s
    topic: %s
    producer_name: bench-e2e
    max_in_flight: %d
    batching: { count: 100, period: 5ms }%s%s
`, n, payloadMapping, bn.url, topic, e2eInFlight, clientTuning, bn.producerStartDelay())
	r, err := bn.runProcess(name, []string{producer, bn.consumerConfig(topic, sub, consumer)}, `stream="consume"`, int64(n))
	r.consuming = true
	return r, err
}

// prepareSubscription creates the topic (a producer auto-creates it) and a
// subscription that the benchmark's consumer (same consumer name) then takes
// over; on the double its window is set to window.
func (bn *bench) prepareSubscription(topic, sub, consumer string, window int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.New(client.Options{URL: bn.url})
	if err != nil {
		return err
	}
	defer cl.Close()
	p, err := cl.NewProducer(ctx, client.ProducerOptions{Topic: topic, Name: "bench-setup", Dispatch: client.DispatchReliable})
	if err != nil {
		return fmt.Errorf("creating %s: %w", topic, err)
	}
	_ = p.Close()
	if bn.broker == nil {
		// A real v0.15.1 broker: a subscription whose consumer is gone
		// made producers hang (seen in this bench), so the benchmark's
		// consumer creates it (see producerStartDelay).
		return nil
	}
	if window != realWindow {
		bn.broker.SetSubscriptionDispatch(topic, sub, window)
	}
	c, err := cl.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: sub, Type: client.SubscriptionExclusive, ConsumerName: consumer})
	if err != nil {
		return fmt.Errorf("subscribing %s to %s: %w", sub, topic, err)
	}
	return c.Close()
}

// runProcess runs danube-connect with one config (run mode) or several
// (streams mode, stream ids "produce"/"consume"), waits until the output
// counter whose labels contain match reaches want, and measures it.
func (bn *bench) runProcess(name string, configs []string, pathMatch string, want int64, onStart ...func(httpAddr string)) (result, error) {
	res := result{name: name, messages: want}
	if only != "" && !strings.Contains(name, only) {
		return res, errSkipped
	}
	port, err := testnet.Port()
	if err != nil {
		return res, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	root := fmt.Sprintf("http: { address: %s, debug_endpoints: %v }\nlogger: { level: warn }\nshutdown_delay: 30s\n", addr, debugAddrFile != "")
	if debugAddrFile != "" {
		_ = os.WriteFile(debugAddrFile, []byte(addr), 0o600)
	}
	var args []string
	if len(configs) == 1 {
		path := filepath.Join(bn.dir, "run.yaml")
		if err := os.WriteFile(path, []byte(root+configs[0]), 0o600); err != nil {
			return res, err
		}
		args = []string{"run", path}
	} else {
		obs := filepath.Join(bn.dir, "root.yaml")
		if err := os.WriteFile(obs, []byte(root), 0o600); err != nil {
			return res, err
		}
		args = []string{"streams", "--no-api", "-o", obs}
		for i, c := range configs {
			id := []string{"produce", "consume"}[i]
			path := filepath.Join(bn.dir, id+".yaml")
			if err := os.WriteFile(path, []byte(c), 0o600); err != nil {
				return res, err
			}
			args = append(args, path)
		}
	}
	cmd := exec.Command(bn.bin, args...)
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return res, err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = io.MultiWriter(logs, f), io.MultiWriter(logs, f)
	}
	if err := cmd.Start(); err != nil {
		return res, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for _, f := range onStart {
		go f(addr)
	}

	metricsURL := "http://" + addr + "/metrics"
	var first, last sample
	deadline := time.Now().Add(180 * time.Second)
	// A real broker skips messages of a lagging subscription: the run ends
	// when delivered + skipped reach want, or when nothing moved for a while.
	var progress int64
	progressAt := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return res, fmt.Errorf("danube-connect exited early (%v):\n%s", err, logs.String())
		case <-tick.C:
		}
		s, err := scrape(metricsURL, pathMatch)
		if err != nil {
			if time.Now().After(deadline) {
				return res, fmt.Errorf("scraping %s: %w", metricsURL, err)
			}
			continue
		}
		s.cpu, s.brokerCPU = procstat.CPU(cmd.Process.Pid), bn.brokerCPU()
		if first.at.IsZero() && s.sent > 0 {
			first = s
		}
		if p := s.sent + s.skipped; p > progress {
			progress, progressAt = p, time.Now()
			if s.sent > last.sent || last.at.IsZero() {
				last = s
			}
		}
		if s.sent+s.skipped >= want {
			last = s
			break
		}
		if s.sent > 0 && time.Since(progressAt) > 10*time.Second {
			break // stalled: report what arrived
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return res, fmt.Errorf("only %d of %d messages after 90 s:\n%s", s.sent, want, logs.String())
		}
	}
	fileRSS := procstat.Status(cmd.Process.Pid, "RssFile")
	hwm := procstat.Status(cmd.Process.Pid, "VmHWM")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	shutdownHWM := hwm
	killAt := time.After(20 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
wait:
	for {
		select {
		case <-exited:
			break wait
		case <-killAt:
			_ = cmd.Process.Kill()
			<-exited
			break wait
		case <-poll.C:
			if v := procstat.Status(cmd.Process.Pid, "VmHWM"); v > 0 {
				shutdownHWM = v
			}
		}
	}
	if last.at.Equal(first.at) {
		// Everything happened within one sampling interval: the rate is
		// at least this.
		first = sample{at: last.at.Add(-100 * time.Millisecond)}
		res.atLeast = true
	}
	res.rate = float64(last.sent-first.sent) / last.at.Sub(first.at).Seconds()
	res.delivered, res.skipped = last.sent, last.skipped
	if msgs := float64(last.sent - first.sent); msgs > 0 {
		res.cpuPerMsg = float64((last.cpu - first.cpu).Microseconds()) / msgs
		res.brokerCPUPerMsg = float64((last.brokerCPU - first.brokerCPU).Microseconds()) / msgs
	}
	res.allocsPerMsg = (last.mallocs - first.mallocs) / float64(last.sent-first.sent)
	res.peakRSS = shutdownHWM
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.maxrss = ru.Maxrss * 1024 // kilobytes on Linux
	}
	res.fileRSS = fileRSS
	return res, nil
}

// brokerCPU is the broker's CPU so far: this process's for the in-process
// double, the process DANUBE_BROKER_PID names for a real broker (else 0).
func (bn *bench) brokerCPU() time.Duration {
	if bn.broker != nil {
		return protoceiling.SelfCPU()
	}
	if pid, err := strconv.Atoi(os.Getenv("DANUBE_BROKER_PID")); err == nil {
		return procstat.CPU(pid)
	}
	return 0
}

type sample struct {
	at        time.Time
	sent      int64
	skipped   int64 // danube_input_skipped_messages, all topics
	mallocs   float64
	cpu       time.Duration // danube-connect's user+system CPU so far
	brokerCPU time.Duration // this process's (the broker's) CPU so far
}

// scrape reads output_sent for the matching path and the Go malloc counter.
func scrape(url, pathMatch string) (sample, error) {
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
		case strings.HasPrefix(line, "output_sent{") && strings.Contains(line, pathMatch):
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err == nil {
				s.sent += int64(v)
				found = true
			}
		case strings.HasPrefix(line, "danube_input_skipped_messages{"):
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err == nil {
				s.skipped += int64(v)
			}
		case strings.HasPrefix(line, "go_memstats_mallocs_total "):
			s.mallocs, _ = strconv.ParseFloat(strings.TrimPrefix(line, "go_memstats_mallocs_total "), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return sample{}, err
	}
	if !found {
		return s, errors.New("no output_sent counter yet")
	}
	return s, nil
}

// bareCeiling runs the protocol ceiling as one of our scenarios.
func bareCeiling(name string, n int, consume bool) (result, error) {
	res := result{name: name, messages: int64(n), bare: true}
	if only != "" && !strings.Contains(name, only) {
		return res, errSkipped
	}
	c, err := protoceiling.Measure(n, inFlight, 1024, consume)
	res.rate, res.cpuPerMsg, res.brokerCPUPerMsg, res.peakRSS = c.Rate, c.ClientCPUPerMsg, c.ServerCPUPerMsg, c.ServerPeakRSS
	return res, err
}

const (
	ceilingSend = "protocol ceiling: bare grpc-go SendMessage only"
	ceilingFull = "protocol ceiling: bare grpc-go SendMessage + delivery + Ack"
)

func printTable(results []result) {
	var baseline, framework, protoSend, protoFull float64
	for _, r := range results {
		switch {
		case strings.HasPrefix(r.name, "produce, single messages, max_in_flight 1"):
			baseline = r.rate
		case strings.HasPrefix(r.name, "framework ceiling"):
			framework = r.rate
		case r.name == ceilingSend:
			protoSend = r.rate
		case r.name == ceilingFull:
			protoFull = r.rate
		}
	}
	pct := func(v, of float64) string {
		if of <= 0 {
			return ""
		}
		return fmt.Sprintf("%.0f%%", 100*v/of)
	}
	fmt.Println("| scenario | ours msg/s | baseline msg/s | ratio | % of framework ceiling | % of protocol ceiling | CPU µs/msg client + broker | allocs/msg | peak RSS (file-backed) | delivered / skipped by the broker; cap |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range results {
		cpu := fmt.Sprintf("%.0f + %.0f", r.cpuPerMsg, r.brokerCPUPerMsg)
		if r.bare {
			fmt.Printf("| %s | %.0f | | | | 100%% | %s | | %d MB (server) | |\n", r.name, r.rate, cpu, r.peakRSS>>20)
			continue
		}
		ratio, proto := "", ""
		if baseline > 0 {
			ratio = fmt.Sprintf("%.2fx", r.rate/baseline)
		}
		switch {
		case strings.HasPrefix(r.name, "produce"):
			proto = pct(r.rate, protoSend)
		case strings.HasPrefix(r.name, "end to end"):
			proto = pct(r.rate, protoFull)
		}
		rate := fmt.Sprintf("%.0f", r.rate)
		if r.atLeast {
			rate = "≥ " + rate
		}
		note := ""
		if r.consuming {
			note = fmt.Sprintf("%d / %d", r.delivered, r.skipped)
			if r.delivered+r.skipped < r.messages {
				note += fmt.Sprintf(" (%d unaccounted)", r.messages-r.delivered-r.skipped)
			}
		}
		if r.ackLatency > 0 {
			capRate := float64(realWindow) / r.ackLatency.Seconds()
			note += fmt.Sprintf("; 10/L = %.0f msg/s, measured %.2f of it", capRate, r.rate/capRate)
		}
		fmt.Printf("| %s | %s | %.0f | %s | %s | %s | %s | %.1f | %d MB (%d MB) | %s |\n", r.name, rate, baseline, ratio, pct(r.rate, framework), proto, cpu, r.allocsPerMsg, r.peakRSS>>20, r.fileRSS>>20, note)
	}
	fmt.Println()
	fmt.Println("baseline = produce, single messages, max_in_flight 1; framework ceiling = Benthos generate -> drop in the same binary;")
	fmt.Printf("protocol ceiling = a bare grpc-go client and server doing only what the protocol requires per message (%d calls in flight):\n", inFlight)
	fmt.Println("produce rows are compared with SendMessage only, end to end with SendMessage + delivery + Ack.")
	fmt.Println("file-backed = the binary's pages resident at the end of the run (part of peak RSS, shared, not heap).")
	fmt.Printf("window %d = danube-broker's max_unacked_messages per subscription (fixed in standalone mode); rows marked extra raise it on the double only.\n", realWindow)
	fmt.Println("throughput cap rows: every message takes L in the pipeline before its ack, so at most 10 are in flight: at most 10/L msg/s per subscription.")
	fmt.Println("delivered / skipped: messages the output sent (output_sent) / messages the input reported skipped (danube_input_skipped_messages).")
	fmt.Println("Targets: end to end >= 50,000 msg/s, peak RSS < 100 MB.")
}
