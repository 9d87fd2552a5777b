package client_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
)

var topicSeq atomic.Int64

// uniqueTopic returns a fresh topic name in the default namespace, so tests
// also work against a shared real broker (DANUBE_BROKER_URL).
func uniqueTopic(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, t.Name())
	return fmt.Sprintf("/default/%s-%d-%d", name, time.Now().UnixNano()%1e9, topicSeq.Add(1))
}

// fastOptions are client options with short waits so fault tests are quick.
func fastOptions(url string) client.Options {
	return client.Options{
		URL:                 url,
		Backoff:             client.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond, MaxRetries: 30},
		HealthCheckInterval: 100 * time.Millisecond,
	}
}

func newClient(t testing.TB, opts client.Options) *client.Client {
	t.Helper()
	c, err := client.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// receiveN receives n messages, acking each, and returns them.
func receiveN(t testing.TB, ctx context.Context, cons *client.Consumer, n int) []*client.Message {
	t.Helper()
	out := make([]*client.Message, 0, n)
	for len(out) < n {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := cons.Receive(rctx)
		cancel()
		require.NoError(t, err, "after %d of %d messages", len(out), n)
		require.NoError(t, cons.Ack(ctx, m))
		out = append(out, m)
	}
	return out
}

// expectNoMessage fails if a message arrives within d.
func expectNoMessage(t testing.TB, cons *client.Consumer, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := cons.Receive(ctx)
	if err == nil {
		t.Fatalf("unexpected message %q from %s", m.Payload, m.Topic)
	}
}

// waitGoroutines polls until the goroutine count drops to at most limit.
func waitGoroutines(t testing.TB, limit int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= limit {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutine leak: %d running, want at most %d\n%s", n, limit, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func asError(err error, target **client.Error) bool { return errors.As(err, target) }
