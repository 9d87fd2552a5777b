package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
)

var (
	danubeBinOnce sync.Once
	danubeBinPath string
	danubeBinErr  error
)

// danubeBinary builds ./cmd/danube-connect once for the danube process tests.
func danubeBinary(t testing.TB) string {
	t.Helper()
	danubeBinOnce.Do(func() {
		_, here, _, _ := runtime.Caller(0)
		dir, err := os.MkdirTemp("", "danube-it-bin")
		if err != nil {
			danubeBinErr = err
			return
		}
		danubeBinPath = filepath.Join(dir, "danube-connect")
		cmd := exec.Command("go", "build", "-o", danubeBinPath, "./cmd/danube-connect")
		cmd.Dir = filepath.Join(filepath.Dir(here), "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			danubeBinErr = fmt.Errorf("building danube-connect: %v\n%s", err, out)
		}
	})
	require.NoError(t, danubeBinErr)
	return danubeBinPath
}

// danubeProcess is one running danube-connect with captured output.
type danubeProcess struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

func (p *danubeProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *danubeProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func startDanubeProcess(t *testing.T, config string) *danubeProcess {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "bridge.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(config), 0o600))
	p := &danubeProcess{done: make(chan struct{})}
	p.cmd = exec.Command(danubeBinary(t), "run", cfg)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(20 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("danube-connect output:\n%s", p.output())
		}
	})
	return p
}

func (p *danubeProcess) kill9(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("danube-connect did not die on SIGKILL")
	}
}

// TestDanubeKill9WithUnackedMessages runs a danube → danube bridge as a real
// danube-connect process, kills it with SIGKILL while it holds unacknowledged
// messages, starts it again and checks that every message published to the
// source topic reached the target topic: nothing the bridge acknowledged was
// lost, and what it had not acknowledged was redelivered.
func TestDanubeKill9WithUnackedMessages(t *testing.T) {
	n := 5000
	if danubeRaceEnabled {
		n = 2000
	}
	b := danubetest.Start(t, danubetest.Options{MaxUnacked: 500})
	const src, dst, sub = "/default/kill-src", "/default/kill-dst", "bridge"
	require.NoError(t, b.CreateTopic(src, true))
	require.NoError(t, b.CreateTopic(dst, true))

	// Collect what arrives on the target topic.
	set := newDanubeIDSet()
	danubeConsume(t, b.URL(), dst, "verify", set)
	danubeWaitStreaming(t, b, dst, "verify")

	config := fmt.Sprintf(`
http: { enabled: false }
logger: { level: warn }
input:
  danube:
    url: %s
    topics: [ %s ]
    subscription: %s
    subscription_type: exclusive
    consumer_name: bridge-1
    backoff: { initial_interval: 10ms, max_interval: 200ms, max_retries: 1000 }
    health_check_interval: 200ms
pipeline:
  processors:
    - sleep: { duration: 1ms }
output:
  danube:
    url: %s
    topic: %s
    producer_name: bridge
    max_in_flight: 8
    backoff: { initial_interval: 10ms, max_interval: 200ms, max_retries: 1000 }
`, b.URL(), src, sub, b.URL(), dst)

	first := startDanubeProcess(t, config)
	danubeWaitStreaming(t, b, src, sub)

	// Publish everything up front: the bridge is slower, so messages pile
	// up in the broker and in the process.
	cl, err := client.New(client.Options{URL: b.URL()})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	prod, err := cl.NewProducer(ctx, client.ProducerOptions{Topic: src, Name: "kill-test", Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	for i := 0; i < n; i++ {
		_, err := prod.Send(ctx, client.OutgoingMessage{Payload: fmt.Appendf(nil, `{"id":%d}`, i)})
		require.NoError(t, err)
	}

	danubeWaitFor(t, 60*time.Second, "a quarter of the messages through the bridge", func() bool { return set.distinct() >= n/4 })
	first.kill9(t)
	st, _ := b.Stats(src)
	held := st.Subscriptions[sub]
	t.Logf("killed after %d distinct messages bridged; broker holds %d in flight + %d to redeliver, acked cursor %d",
		set.distinct(), held.InFlight, held.PendingRedeliver, held.AckedCursor)
	require.Positive(t, held.InFlight+held.PendingRedeliver, "the killed process must have held unacknowledged messages")
	require.Less(t, held.AckedCursor, uint64(n), "the source must not be fully acknowledged yet")

	startDanubeProcess(t, config)
	danubeWaitFor(t, 120*time.Second, "every message on the target after the restart", func() bool { return set.distinct() == n })
	require.Empty(t, set.missing(0, int64(n-1)))
	danubeWaitFor(t, 30*time.Second, "the source subscription fully acknowledged", func() bool {
		st, _ := b.Stats(src)
		return st.Subscriptions[sub].AckedCursor == uint64(n)
	})
	t.Logf("target received %d messages for %d distinct ids (%d duplicates from redelivery)", set.total.Load(), n, set.total.Load()-int64(n))
}
