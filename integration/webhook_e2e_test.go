package integration

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	_ "github.com/danube-connect/danube-connect/plugins/danube"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
	_ "github.com/danube-connect/danube-connect/plugins/webhook"

	"github.com/danube-connect/danube-connect/internal/testnet"
)

const webhookTestSecret = "It's a Secret to Everybody"

func githubSignature(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// runWebhookStream runs a full stream config until the returned stop is
// called or the test ends.
func runWebhookStream(t *testing.T, yaml string, consume service.MessageHandlerFunc) (stop func()) {
	t.Helper()
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetYAML(yaml))
	if consume != nil {
		require.NoError(t, sb.AddConsumerFunc(consume))
	}
	strm, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = strm.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = strm.StopWithin(10 * time.Second)
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitWebhookPath polls with a method no endpoint allows until path is
// routed (405 rather than 404 or a refused connection).
func waitWebhookPath(t *testing.T, addr, path string) {
	t.Helper()
	require.Eventually(t, func() bool {
		req, _ := http.NewRequest("TRACE", "http://"+addr+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusMethodNotAllowed
	}, 15*time.Second, 20*time.Millisecond, "webhook_server did not serve %v on %v", path, addr)
}

type webhookReply struct {
	status     int
	retryAfter string
	body       string
}

func postWebhook(t *testing.T, url, body string, hdr map[string]string) webhookReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return webhookReply{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), body: string(b)}
}

type webhookConsumed struct {
	mu   sync.Mutex
	msgs []*service.Message
}

func (c *webhookConsumed) handler(_ context.Context, m *service.Message) error {
	c.mu.Lock()
	c.msgs = append(c.msgs, m.Copy())
	c.mu.Unlock()
	return nil
}

func (c *webhookConsumed) snapshot() []*service.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*service.Message(nil), c.msgs...)
}

func webhookTopicMessages(t *testing.T, b *danubetest.Broker, topic string) uint64 {
	t.Helper()
	st, ok := b.Stats(topic)
	if !ok {
		return 0
	}
	return st.Messages
}

// TestWebhookE2EGitHubToDanube: a signed POST is published to Danube and
// consumed; an unsigned one gets 401 and nothing is published; with the
// broker down the sender gets 503, and the retried delivery is published
// exactly once after recovery.
func TestWebhookE2EGitHubToDanube(t *testing.T) {
	broker := danubetest.Start(t)
	addr := testnet.FreeAddr(t)
	const topic = "/default/github_e2e"

	runWebhookStream(t, fmt.Sprintf(`
logger: { level: none }
error_handling: { strict: true }
input:
  webhook_server:
    address: %s
    path: /github
    timeout: 1s
    write_timeout: 5s
    dedupe:
      headers: [ X-GitHub-Delivery ]
pipeline:
  processors:
    - webhook_signature:
        preset: github
        secrets: [ %q ]
output:
  danube:
    url: %s
    topic: %s
    backoff: { initial_interval: 20ms, max_interval: 100ms, max_retries: 3 }
    metadata:
      exclude_prefixes: [ Authorization, Cookie, X-Hub-Signature ]
`, addr, webhookTestSecret, broker.URL(), topic), nil)

	got := &webhookConsumed{}
	consumerYAML := fmt.Sprintf(`
logger: { level: none }
input:
  danube:
    url: %s
    topics: [ %s ]
    subscription: e2e
`, broker.URL(), topic)
	stopConsumer := runWebhookStream(t, consumerYAML, got.handler)
	waitWebhookPath(t, addr, "/github")
	// New subscriptions start at the end of the topic: wait for ours.
	require.Eventually(t, func() bool {
		st, ok := broker.Stats(topic)
		return ok && st.Subscriptions["e2e"].Streaming > 0
	}, 15*time.Second, 20*time.Millisecond, "the danube input never subscribed")
	url := "http://" + addr + "/github"

	// 1. Signed and published, byte-exact, with the delivery id attribute.
	body1 := `{"action":"opened","number":1,"repository":{"full_name":"octo/hello"}}`
	r := postWebhook(t, url, body1, map[string]string{
		"X-Hub-Signature-256": githubSignature(webhookTestSecret, body1),
		"X-GitHub-Delivery":   "d-1",
		"X-GitHub-Event":      "pull_request",
	})
	require.Equal(t, 200, r.status, r.body)
	require.Eventually(t, func() bool { return len(got.snapshot()) == 1 }, 15*time.Second, 20*time.Millisecond)
	m := got.snapshot()[0]
	b, err := m.AsBytes()
	require.NoError(t, err)
	assert.Equal(t, body1, string(b))
	v, _ := m.MetaGet("X-Github-Event")
	assert.Equal(t, "pull_request", v)
	v, _ = m.MetaGet("webhook_verified")
	assert.Equal(t, "true", v)
	_, leaked := m.MetaGet("X-Hub-Signature-256")
	assert.False(t, leaked, "signature header must be filtered from the published attributes")

	// 2. Unsigned: 401, nothing published.
	r = postWebhook(t, url, `{"forged":true}`, map[string]string{"X-GitHub-Delivery": "d-x"})
	assert.Equal(t, 401, r.status)
	assert.Equal(t, `{"error":"unauthorized"}`, r.body)
	assert.Equal(t, uint64(1), webhookTopicMessages(t, broker, topic))

	// 3. Broker down: 503 with Retry-After; retried after recovery, published once.
	// The consumer is stopped across the outage (its own reconnection is
	// the danube input's tests' business) and resumes the subscription later.
	stopConsumer()
	broker.Stop()
	body2 := `{"action":"closed","number":1}`
	signed2 := map[string]string{
		"X-Hub-Signature-256": githubSignature(webhookTestSecret, body2),
		"X-GitHub-Delivery":   "d-2",
	}
	r = postWebhook(t, url, body2, signed2)
	assert.Equal(t, 503, r.status)
	assert.Equal(t, "1", r.retryAfter)
	assert.Equal(t, `{"error":"service unavailable"}`, r.body)
	r = postWebhook(t, url, body2, signed2)
	assert.Equal(t, 503, r.status, "a retry while the broker is down is refused too")

	require.NoError(t, broker.Restart())
	require.Eventually(t, func() bool {
		return postWebhook(t, url, body2, signed2).status == 200
	}, 30*time.Second, 100*time.Millisecond, "the retried delivery was never accepted after recovery")
	// Further retries are answered as duplicates.
	assert.Equal(t, 200, postWebhook(t, url, body2, signed2).status)

	assert.Equal(t, uint64(2), webhookTopicMessages(t, broker, topic), "d-2 published exactly once")
	runWebhookStream(t, consumerYAML, got.handler)

	// The consumer side is at-least-once (a redelivery after the broker
	// restart is allowed), so compare what was stored: distinct offsets.
	byOffset := func() map[string]string {
		out := map[string]string{}
		for _, m := range got.snapshot() {
			b, _ := m.AsBytes()
			off, _ := m.MetaGet("danube_offset")
			out[off] = string(b)
		}
		return out
	}
	require.Eventually(t, func() bool { return len(byOffset()) >= 2 }, 15*time.Second, 20*time.Millisecond, "webhookConsumed: %v", byOffset)
	var bodies []string
	for _, b := range byOffset() {
		bodies = append(bodies, b)
	}
	assert.ElementsMatch(t, []string{body1, body2}, bodies)
	assert.Equal(t, uint64(2), webhookTopicMessages(t, broker, topic))
}

// TestWebhookE2EConcurrentForgedAndValid: many senders at once, every third
// one forged: each valid one is answered 200 and published exactly once, each
// forged one 401 and never published. (Each request travels as its own
// Benthos transaction: batching requests would let one request's outcome
// leak into its batch-mates' in several Benthos stages.)
func TestWebhookE2EConcurrentForgedAndValid(t *testing.T) {
	broker := danubetest.Start(t)
	addr := testnet.FreeAddr(t)
	const topic = "/default/github_concurrent"

	runWebhookStream(t, fmt.Sprintf(`
logger: { level: none }
error_handling: { strict: true }
input:
  webhook_server:
    address: %s
    path: /github
    timeout: 10s
    write_timeout: 15s
pipeline:
  processors:
    - webhook_signature:
        preset: github
        secrets: [ %q ]
output:
  danube:
    url: %s
    topic: %s
    max_in_flight: 4
`, addr, webhookTestSecret, broker.URL(), topic), nil)
	waitWebhookPath(t, addr, "/github")
	url := "http://" + addr + "/github"

	const senders, perSender = 16, 15
	var valid, forged sync.Map // body -> status
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				body := fmt.Sprintf(`{"sender":%d,"seq":%d}`, s, i)
				sig := githubSignature(webhookTestSecret, body)
				into := &valid
				if (s*perSender+i)%3 == 0 {
					sig = githubSignature("not the secret", body)
					into = &forged
				}
				req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				if err != nil {
					into.Store(body, -1)
					continue
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Hub-Signature-256", sig)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					into.Store(body, -1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				into.Store(body, res.StatusCode)
			}
		}()
	}
	wg.Wait()

	nValid := 0
	valid.Range(func(k, v any) bool {
		nValid++
		assert.Equal(t, 200, v, "valid %v", k)
		return true
	})
	nForged := 0
	forged.Range(func(k, v any) bool {
		nForged++
		assert.Equal(t, 401, v, "forged %v", k)
		return true
	})
	require.Equal(t, senders*perSender, nValid+nForged)
	assert.EqualValues(t, nValid, webhookTopicMessages(t, broker, topic), "exactly the valid requests are published")
}
