package webhook

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/danube-connect/danube-connect/internal/testnet"
)

// Runs config/webhook_http_server_github.yaml (output replaced by a
// collector) and checks the 401 sync_response pattern end to end.
func TestWebhookSignatureHTTPServerConfig(t *testing.T) {
	raw, err := os.ReadFile("../../config/webhook_http_server_github.yaml")
	require.NoError(t, err)
	var conf map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &conf))
	// The collector below is fanned out with this output.
	conf["output"] = map[string]any{"drop": map[string]any{}}
	delete(conf, "tests")
	delete(conf, "http")

	addr := testnet.FreeAddr(t)
	conf["input"].(map[string]any)["http_server"].(map[string]any)["address"] = addr
	conf["logger"] = map[string]any{"level": "none"}
	patched, err := yaml.Marshal(conf)
	require.NoError(t, err)

	t.Setenv("GITHUB_WEBHOOK_SECRET", vtGitHubSecret)
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetYAML(string(patched)))
	published := make(chan *service.Message, 10)
	require.NoError(t, sb.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		published <- m
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
	defer func() {
		_ = strm.StopWithin(10 * time.Second)
		cancel()
		<-done
	}()

	url := "http://" + addr + "/github"
	post := func(body, sig string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept-Encoding", "identity")
		req.Header.Set("X-Github-Event", "push")
		req.Header.Set("X-Github-Delivery", "d-42")
		if sig != "" {
			req.Header.Set("X-Hub-Signature-256", sig)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	require.Eventually(t, func() bool {
		res, err := http.Get(url)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusMethodNotAllowed
	}, 10*time.Second, 20*time.Millisecond, "http_server did not start")

	status, body := post(vtGitHubBody, vtGitHubSig)
	assert.Equal(t, http.StatusOK, status)
	select {
	case m := <-published:
		b, _ := m.AsBytes()
		assert.Equal(t, vtGitHubBody, string(b))
		for k, want := range map[string]string{"webhook_verified": "true", "webhook_id": "d-42", "github_event": "push"} {
			v, _ := m.MetaGet(k)
			assert.Equal(t, want, v, k)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("verified delivery not published")
	}

	for _, sig := range []string{"", "sha256=" + strings.Repeat("0", 64), "sha256=nothex"} {
		status, body = post(vtGitHubBody, sig)
		assert.Equal(t, http.StatusUnauthorized, status, sig)
		assert.JSONEq(t, `{"error":"unauthorized"}`, body)
	}
	status, _ = post(vtGitHubBody+"tampered", vtGitHubSig)
	assert.Equal(t, http.StatusUnauthorized, status)
	select {
	case m := <-published:
		b, _ := m.AsBytes()
		t.Fatalf("rejected delivery was published: %q", b)
	default:
	}
}
