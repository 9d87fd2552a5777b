package webhook

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/internal/testnet"
)

// vtServerStream runs webhook_server at /hook with one processor; the output
// nacks errored messages with their error, as a strict pipeline would.
func vtServerStream(t *testing.T, processorYAML string) (string, *atomic.Int64) {
	t.Helper()
	addr := testnet.FreeAddr(t)

	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	require.NoError(t, sb.AddInputYAML(fmt.Sprintf("webhook_server:\n  address: %s\n  path: /hook\n", addr)))
	require.NoError(t, sb.AddProcessorYAML(processorYAML))
	published := &atomic.Int64{}
	require.NoError(t, sb.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		if err := m.GetError(); err != nil {
			return err
		}
		published.Add(1)
		return nil
	}))
	strm, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = strm.Run(ctx)
	}()
	t.Cleanup(func() {
		_ = strm.StopWithin(10 * time.Second)
		cancel()
		<-done
	})
	return addr, published
}

// vtPost sends a POST with the given headers (repeated keys allowed).
func vtPost(t *testing.T, url, body string, hdr http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// Contract with webhook_server: a failed verification reaches the sender as
// the status the processor error carries (401, or 400 for duplicate
// headers), never as 5xx, and the event is not published. The output here
// nacks errored messages with their error, as a strict pipeline would.
func TestWebhookSignatureWithWebhookServer(t *testing.T) {
	addr, published := vtServerStream(t, fmt.Sprintf("webhook_signature:\n  preset: github\n  secrets: [ %q ]\n", vtGitHubSecret))
	post := func(body string, sigs ...string) (int, string) {
		return vtPost(t, "http://"+addr+"/hook", body, http.Header{"X-Hub-Signature-256": sigs})
	}
	require.Eventually(t, func() bool {
		status, _ := post(vtGitHubBody, vtGitHubSig)
		return status == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "webhook_server did not accept a signed delivery")
	before := published.Load()
	require.GreaterOrEqual(t, before, int64(1))

	for _, tc := range []struct {
		name   string
		body   string
		sigs   []string
		status int
	}{
		{"unsigned", vtGitHubBody, nil, http.StatusUnauthorized},
		{"forged", vtGitHubBody, []string{"sha256=" + strings.Repeat("ab", 32)}, http.StatusUnauthorized},
		{"tampered body", vtGitHubBody + "!", []string{vtGitHubSig}, http.StatusUnauthorized},
		{"duplicate signature header", vtGitHubBody, []string{vtGitHubSig, vtGitHubSig}, http.StatusBadRequest},
		{"non-hex signature", vtGitHubBody, []string{"sha256=" + strings.Repeat("zz", 32)}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(tc.body, tc.sigs...)
			assert.Equal(t, tc.status, status)
			assert.NotContains(t, body, vtGitHubSecret)
			assert.NotContains(t, body, "signature mismatch", "internal error text must not leak")
		})
	}
	assert.Equal(t, before, published.Load(), "rejected deliveries must not be published")
}

// jwt_verify and api_key failures are 401 through webhook_server (a JWT
// error is not one of the verify package's signature reasons, so the
// status must come from the processor error itself).
func TestJWTAndAPIKeyWithWebhookServer(t *testing.T) {
	jwtAddr, jwtPublished := vtServerStream(t, "jwt_verify:\n  algorithms: [ HS256 ]\n  secrets: [ s3cret ]\n")
	keyAddr, keyPublished := vtServerStream(t, "api_key:\n  keys: [ { name: ci, key: k-123 } ]\n")
	good := vtSignJWT(t, jwt.SigningMethodHS256, []byte("s3cret"), "", vtClaims())
	expired := vtSignJWT(t, jwt.SigningMethodHS256, []byte("s3cret"), "", vtClaims("exp", time.Now().Unix()-3600))

	require.Eventually(t, func() bool {
		s, _ := vtPost(t, "http://"+jwtAddr+"/hook", "{}", http.Header{"Authorization": {"Bearer " + good}})
		return s == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		s, _ := vtPost(t, "http://"+keyAddr+"/hook", "{}", http.Header{"X-Api-Key": {"k-123"}})
		return s == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)
	jwtBefore, keyBefore := jwtPublished.Load(), keyPublished.Load()

	for _, tc := range []struct {
		name, addr string
		hdr        http.Header
		status     int
	}{
		{"jwt expired", jwtAddr, http.Header{"Authorization": {"Bearer " + expired}}, http.StatusUnauthorized},
		{"jwt missing", jwtAddr, nil, http.StatusUnauthorized},
		{"jwt two Authorization headers", jwtAddr, http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}}, http.StatusBadRequest},
		{"api key wrong", keyAddr, http.Header{"X-Api-Key": {"k-124"}}, http.StatusUnauthorized},
		{"api key missing", keyAddr, nil, http.StatusUnauthorized},
		{"api key only in a query", keyAddr, nil, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := "http://" + tc.addr + "/hook"
			if tc.name == "api key only in a query" {
				url += "?X-Api-Key=k-123"
			}
			status, body := vtPost(t, url, "{}", tc.hdr)
			assert.Equal(t, tc.status, status)
			assert.NotContains(t, body, "k-12")
			assert.NotContains(t, body, expired[20:])
		})
	}
	assert.Equal(t, jwtBefore, jwtPublished.Load())
	assert.Equal(t, keyBefore, keyPublished.Load())
}
