package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"

	"github.com/danube-connect/danube-connect/internal/testnet"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
)

// TestWebhookStreamsDirectory runs config/webhook_streams in streams mode:
// three stream files on one address share one listener, every endpoint
// publishes to its topic, and forgeries are refused on each.
func TestWebhookStreamsDirectory(t *testing.T) {
	broker := danubetest.Start(t)
	addr := testnet.FreeAddr(t)
	const clerkSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	t.Setenv("WEBHOOK_ADDRESS", addr)
	t.Setenv("DANUBE_URL", broker.URL())
	t.Setenv("GITHUB_WEBHOOK_SECRET", webhookTestSecret)
	t.Setenv("CLERK_WEBHOOK_SECRET", clerkSecret)
	t.Setenv("ACME_API_KEY", "acme-key-123")

	root := filepath.Join(t.TempDir(), "root.yaml")
	require.NoError(t, os.WriteFile(root, []byte(fmt.Sprintf(`
http: { address: %s }
logger: { level: none }
`, testnet.FreeAddr(t))), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() {
		code, _ := service.RunCLIToCode(ctx, service.CLIOptSetArgs(
			"danube-connect", "streams", "--no-api", "-o", root, filepath.Join("..", "config", "webhook_streams")))
		exited <- code
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Error("streams mode did not stop")
		}
	})
	for _, p := range []string{"/hooks/github", "/hooks/clerk", "/hooks/agents", "/hooks/partners"} {
		waitWebhookPath(t, addr, p)
	}
	base := "http://" + addr

	ghBody := `{"zen":"Keep it logically awesome.","hook_id":1}`
	r := postWebhook(t, base+"/hooks/github", ghBody, map[string]string{
		"X-Hub-Signature-256": githubSignature(webhookTestSecret, ghBody), "X-GitHub-Delivery": "s-1",
	})
	assert.Equal(t, 200, r.status, r.body)
	r = postWebhook(t, base+"/hooks/github", ghBody, map[string]string{"X-Hub-Signature-256": githubSignature("wrong", ghBody)})
	assert.Equal(t, 401, r.status)

	clerkBody := `{"type":"user.created","data":{"id":"user_29w83sxmDNGwOuEthce5gg56FcC"}}`
	ts := time.Now().Unix()
	r = postWebhook(t, base+"/hooks/clerk", clerkBody, map[string]string{
		"Svix-Id": "msg_s1", "Svix-Timestamp": strconv.FormatInt(ts, 10),
		"Svix-Signature": svixSignature(t, clerkSecret, "msg_s1", ts, clerkBody),
	})
	assert.Equal(t, 200, r.status, r.body)
	r = postWebhook(t, base+"/hooks/clerk", clerkBody, map[string]string{"Svix-Id": "msg_s2"})
	assert.Equal(t, 401, r.status)

	r = postWebhook(t, base+"/hooks/partners", `{"order":1}`, map[string]string{"X-Api-Key": "acme-key-123"})
	assert.Equal(t, 200, r.status, r.body)
	r = postWebhook(t, base+"/hooks/partners", `{"order":2}`, map[string]string{"X-Api-Key": "guess"})
	assert.Equal(t, 401, r.status)
	r = postWebhook(t, base+"/hooks/agents", `{"task":1}`, map[string]string{"Authorization": "Bearer not.a.jwt"})
	assert.Equal(t, 401, r.status)

	for topic, want := range map[string]uint64{"/default/github": 1, "/default/clerk": 1, "/default/partners": 1, "/default/agents": 0} {
		assert.Equal(t, want, webhookTopicMessages(t, broker, topic), topic)
	}
	// Stream paths are not prefixed with the stream id.
	res, err := http.Post(base+"/github/hooks/github", "application/json", nil)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 404, res.StatusCode)
}
