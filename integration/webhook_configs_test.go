package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/internal/testnet"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
	_ "github.com/danube-connect/danube-connect/plugins/deltalake"
)

// runWebhookConfigFile runs one of the shipped configs with ${VAR} taken from env.
func runWebhookConfigFile(t *testing.T, name string, env map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "config", name))
	require.NoError(t, err)
	sb := service.NewStreamBuilder()
	sb.SetEnvVarLookupFunc(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	require.NoError(t, sb.SetYAML(string(raw)))
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	strm, err := sb.Build()
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = strm.Run(t.Context())
	}()
	t.Cleanup(func() {
		_ = strm.StopWithin(10 * time.Second)
		<-done
	})
}

func TestWebhookConfigGitHubToDanube(t *testing.T) {
	broker := danubetest.Start(t)
	addr := testnet.FreeAddr(t)
	runWebhookConfigFile(t, "webhook_github_to_danube.yaml", map[string]string{
		"WEBHOOK_ADDRESS": addr, "HTTP_ADDRESS": testnet.FreeAddr(t),
		"DANUBE_URL": broker.URL(), "GITHUB_WEBHOOK_SECRET": webhookTestSecret,
	})
	waitWebhookPath(t, addr, "/github")
	url := "http://" + addr + "/github"
	body := `{"zen":"Design for failure.","hook_id":12}`
	hdr := map[string]string{
		"X-Hub-Signature-256":                  githubSignature(webhookTestSecret, body),
		"X-GitHub-Delivery":                    "cfg-1",
		"X-GitHub-Hook-Installation-Target-ID": "1296269",
	}
	r := postWebhook(t, url, body, hdr)
	require.Equal(t, 200, r.status, r.body)
	assert.Equal(t, 200, postWebhook(t, url, body, hdr).status, "redelivery")
	hdr["X-Hub-Signature-256"] = githubSignature("not the secret", body)
	hdr["X-GitHub-Delivery"] = "cfg-2"
	assert.Equal(t, 401, postWebhook(t, url, body, hdr).status)
	assert.Equal(t, uint64(1), webhookTopicMessages(t, broker, "/default/github"))
}

func TestWebhookConfigStripeToDanube(t *testing.T) {
	broker := danubetest.Start(t)
	addr := testnet.FreeAddr(t)
	runWebhookConfigFile(t, "webhook_stripe_to_danube.yaml", map[string]string{
		"WEBHOOK_ADDRESS": addr, "HTTP_ADDRESS": testnet.FreeAddr(t),
		"DANUBE_URL": broker.URL(), "STRIPE_WEBHOOK_SECRET": hostileStripeSecret,
	})
	waitWebhookPath(t, addr, "/stripe")
	url := "http://" + addr + "/stripe"
	body := `{"id":"evt_cfg_1","object":"event","type":"invoice.paid"}`
	sign := func(ts int64) map[string]string {
		return map[string]string{"Stripe-Signature": stripeSignature(hostileStripeSecret, ts, body)}
	}
	now := time.Now().Unix()
	r := postWebhook(t, url, body, sign(now))
	require.Equal(t, 200, r.status, r.body)
	// Stripe retries re-sign with a fresh timestamp; the event id dedupes.
	assert.Equal(t, 200, postWebhook(t, url, body, sign(now+1)).status)
	// A known event id is answered 200 without publishing, even unverified
	// (nothing is published, nothing learned); new ids must verify.
	stale := `{"id":"evt_cfg_3","object":"event"}`
	assert.Equal(t, 401, postWebhook(t, url, stale, map[string]string{"Stripe-Signature": stripeSignature(hostileStripeSecret, now-3600, stale)}).status)
	assert.Equal(t, 401, postWebhook(t, url, `{"id":"evt_cfg_2"}`, sign(now)).status)
	assert.Equal(t, uint64(1), webhookTopicMessages(t, broker, "/default/stripe"))
}

func TestWebhookConfigToDelta(t *testing.T) {
	addr := testnet.FreeAddr(t)
	table := filepath.Join(t.TempDir(), "github_events")
	runWebhookConfigFile(t, "webhook_to_delta.yaml", map[string]string{
		"WEBHOOK_ADDRESS": addr, "HTTP_ADDRESS": testnet.FreeAddr(t),
		"DELTA_TABLE_PATH": table, "GITHUB_WEBHOOK_SECRET": webhookTestSecret,
	})
	waitWebhookPath(t, addr, "/github")
	url := "http://" + addr + "/github"
	body := `{"action":"created","comment":{"id":9}}`
	r := postWebhook(t, url, body, map[string]string{
		"X-Hub-Signature-256": githubSignature(webhookTestSecret, body),
		"X-GitHub-Delivery":   "delta-1", "X-GitHub-Event": "issue_comment",
	})
	require.Equal(t, 200, r.status, r.body)
	// The 2xx came after the commit: the log and a data file exist now.
	logs, err := filepath.Glob(filepath.Join(table, "_delta_log", "*.json"))
	require.NoError(t, err)
	assert.NotEmpty(t, logs, "no Delta commit after the 2xx")
	data, err := filepath.Glob(filepath.Join(table, "date=*", "*.parquet"))
	require.NoError(t, err)
	assert.NotEmpty(t, data, "no data file in a date partition")
	assert.Equal(t, 401, postWebhook(t, url, body, map[string]string{"X-GitHub-Delivery": "delta-2"}).status)
}
