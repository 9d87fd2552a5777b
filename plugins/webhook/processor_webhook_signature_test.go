package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/webhook/verify"
)

const (
	vtGitHubSecret = "It's a Secret to Everybody"
	vtGitHubBody   = "Hello, World!"
	vtGitHubSig    = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func vtHMACHex(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func TestWebhookSignatureLint(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want string // "" = no lint
	}{
		{"github ok", `webhook_signature: { preset: github, secrets: [ s ] }`, ""},
		{"std with public keys only", `webhook_signature: { preset: standard_webhooks, public_keys: [ "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=" ] }`, ""},
		{"generic ok", `webhook_signature: { preset: generic, secrets: [ s ], generic: { header: X-Sig } }`, ""},
		{"secrets missing", `webhook_signature: { preset: github }`, "secrets are required"},
		{"secrets empty", `webhook_signature: { preset: stripe, secrets: [] }`, "secrets are required"},
		{"generic without header", `webhook_signature: { preset: generic, secrets: [ s ] }`, "generic.header is required"},
		{"unknown preset", `webhook_signature: { preset: bitbucket, secrets: [ s ] }`, "bitbucket"},
		{"unknown field", `webhook_signature: { preset: github, secrets: [ s ], secret: s }`, "secret"},
		{"bad algorithm", `webhook_signature: { preset: generic, secrets: [ s ], generic: { header: X, algorithm: md5 } }`, "md5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lints := vtLint(t, tc.yaml)
			if tc.want == "" {
				assert.Empty(t, lints)
				return
			}
			require.NotEmpty(t, lints)
			assert.Contains(t, fmt.Sprint(lints), tc.want)
		})
	}
}

func TestWebhookSignatureConfigErrors(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{`preset: github`, "at least one secret"},
		{"preset: generic\nsecrets: [ s ]\ngeneric: { header: X, signed_template: \"{ts}.{body}\" }", "unknown placeholder"},
		{"preset: standard_webhooks\nsecrets: [ \"whsec_\" ]", "key is empty"},
		{"preset: github\nsecrets: [ s ]\ntolerance: -1s", "negative"},
		{"preset: github\nsecrets: [ s ]\npublic_keys: [ x ]", "only used by"},
	} {
		_, err := vtNewProcessor(t, "webhook_signature", tc.conf)
		require.ErrorContains(t, err, tc.want, tc.conf)
	}
}

func TestWebhookSignatureProcess(t *testing.T) {
	proc, err := vtNewProcessor(t, "webhook_signature", "preset: github\nsecrets: [ \"other\", \""+vtGitHubSecret+"\" ]")
	require.NoError(t, err)
	ctx := context.Background()

	msg := vtMsg(vtGitHubBody, map[string]string{"X-Hub-Signature-256": vtGitHubSig, "X-Github-Delivery": "d-1"})
	batch, err := proc.Process(ctx, msg)
	require.NoError(t, err)
	require.Len(t, batch, 1)
	for k, want := range map[string]string{"webhook_provider": "github", "webhook_id": "d-1", "webhook_verified": "true"} {
		v, ok := batch[0].MetaGet(k)
		assert.True(t, ok, k)
		assert.Equal(t, want, v, k)
	}
	b, _ := batch[0].AsBytes()
	assert.Equal(t, vtGitHubBody, string(b), "body untouched")

	for _, tc := range []struct {
		name   string
		body   string
		meta   map[string]string
		status int
		reason string
	}{
		{"missing", vtGitHubBody, map[string]string{}, http.StatusUnauthorized, "webhook signature: missing header: X-Hub-Signature-256"},
		{"mismatch", vtGitHubBody + " ", map[string]string{"X-Hub-Signature-256": vtGitHubSig}, http.StatusUnauthorized, "webhook signature: signature mismatch"},
		{"duplicate header", vtGitHubBody, map[string]string{"X-Hub-Signature-256": vtGitHubSig + "\n" + vtGitHubSig}, http.StatusBadRequest, "webhook signature: duplicate header: X-Hub-Signature-256"},
		{"non-hex", vtGitHubBody, map[string]string{"X-Hub-Signature-256": "sha256=" + string(make([]byte, 64))}, http.StatusBadRequest, "malformed header"},
		{"pre-set metadata is cleared", vtGitHubBody, map[string]string{"webhook_verified": "true", "webhook_provider": "github", "webhook_id": "x"}, http.StatusUnauthorized, "missing header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := vtMsg(tc.body, tc.meta)
			_, err := proc.Process(ctx, m)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.reason)
			assert.NotContains(t, err.Error(), vtGitHubSecret)
			assert.NotContains(t, err.Error(), vtGitHubSig[7:])
			assert.Equal(t, tc.status, vtStatus(err))
			for _, k := range []string{"webhook_verified", "webhook_provider", "webhook_id"} {
				_, ok := m.MetaGet(k)
				assert.False(t, ok, k)
			}
		})
	}
}

func TestWebhookSignatureTwilioURL(t *testing.T) {
	const form = "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212"
	// The URL from webhook_server metadata.
	proc, err := vtNewProcessor(t, "webhook_signature", "preset: twilio\nsecrets: [ \"12345\" ]")
	require.NoError(t, err)
	_, err = proc.Process(context.Background(), vtMsg(form, map[string]string{
		"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
		"webhook_url":        "https://mycompany.com/myapp.php?foo=1&bar=2",
	}))
	require.NoError(t, err)

	// The URL from the interpolated field (http_server).
	proc, err = vtNewProcessor(t, "webhook_signature", "preset: twilio\nsecrets: [ \"12345\" ]\nurl: 'https://mycompany.com${! @http_server_request_path }?foo=1&bar=2'")
	require.NoError(t, err)
	_, err = proc.Process(context.Background(), vtMsg(form, map[string]string{
		"X-Twilio-Signature":       "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
		"http_server_request_path": "/myapp.php",
		"webhook_url":              "https://attacker.example/ignored",
	}))
	require.NoError(t, err)

	_, err = proc.Process(context.Background(), vtMsg(form, map[string]string{
		"X-Twilio-Signature":       "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
		"http_server_request_path": "/other.php",
	}))
	require.ErrorContains(t, err, "signature mismatch")
}

// Through a stream with http_server-like metadata, several threads and
// concurrent producers: every good delivery is verified, every bad one
// flagged, none lost.
func TestWebhookSignatureStreamConcurrent(t *testing.T) {
	produce, out := vtStream(t, `webhook_signature:
  preset: stripe
  secrets: [ "whsec_old", "whsec_new" ]
`, 4)
	now := time.Now().Unix()
	const n = 200
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				body := fmt.Sprintf(`{"id":"evt_%d","object":"event"}`, i)
				ts := strconv.FormatInt(now, 10)
				secret := "whsec_new"
				if i%3 == 0 {
					secret = "whsec_old"
				}
				sig := vtHMACHex(secret, ts+"."+body)
				if i%5 == 0 {
					sig = vtHMACHex("whsec_wrong", ts+"."+body)
				}
				msg := vtMsg(body, map[string]string{
					"Stripe-Signature":         "t=" + ts + ",v1=" + sig,
					"http_server_request_path": "/stripe",
					"http_server_verb":         "POST",
					"Content-Type":             "application/json",
				})
				assert.NoError(t, produce(context.Background(), msg))
			}
		}(w)
	}
	wg.Wait()
	msgs := out.all()
	require.Len(t, msgs, n)
	verified, rejected := 0, 0
	for _, m := range msgs {
		if e, ok := m.MetaGet("verify_error"); ok {
			assert.Equal(t, "webhook signature: signature mismatch", e)
			_, ok := m.MetaGet("webhook_verified")
			assert.False(t, ok)
			rejected++
			continue
		}
		v, _ := m.MetaGet("webhook_verified")
		assert.Equal(t, "true", v)
		verified++
	}
	assert.Equal(t, n/5, rejected)
	assert.Equal(t, n-n/5, verified)
}

func TestWebhookSignatureParallelProcess(t *testing.T) {
	proc, err := vtNewProcessor(t, "webhook_signature", "preset: github\nsecrets: [ \""+vtGitHubSecret+"\" ]")
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				sig := vtGitHubSig
				if (g+i)%2 == 0 {
					sig = "sha256=" + vtHMACHex("nope", vtGitHubBody)
				}
				_, err := proc.Process(context.Background(), vtMsg(vtGitHubBody, map[string]string{"X-Hub-Signature-256": sig}))
				if (g+i)%2 == 0 {
					assert.Error(t, err)
				} else {
					assert.NoError(t, err)
				}
			}
		}(g)
	}
	wg.Wait()
}

func BenchmarkWebhookSignatureProcess(b *testing.B) {
	spec := webhookSignatureProcessorSpec()
	parsed, err := spec.ParseYAML("preset: github\nsecrets: [ s ]", nil)
	require.NoError(b, err)
	c, err := wspConfigFromParsed(parsed)
	require.NoError(b, err)
	proc, err := newWebhookSignatureProcessor(c, service.MockResources())
	require.NoError(b, err)
	body := make([]byte, 300)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	sig := "sha256=" + vtHMACHex("s", string(body))
	b.ReportAllocs()
	for b.Loop() {
		m := service.NewMessage(body)
		m.MetaSetMut("X-Hub-Signature-256", sig)
		if _, err := proc.Process(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
}

// The Zoom endpoint.url_validation answer documented in the spec, checked
// against our own vector (verify.ZoomEncryptedToken).
func TestWebhookSignatureZoomChallengeRecipe(t *testing.T) {
	t.Setenv("ZOOM_SECRET", "zoom-secret")
	exe, err := bloblang.Parse(`root.plainToken = this.payload.plainToken
root.encryptedToken = this.payload.plainToken.hash("hmac_sha256", env("ZOOM_SECRET")).encode("hex")`)
	require.NoError(t, err)
	out, err := exe.Query(map[string]any{"event": "endpoint.url_validation", "payload": map[string]any{"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"plainToken":     "qgg8vlvZRS6UYooatFL8Aw",
		"encryptedToken": verify.ZoomEncryptedToken("zoom-secret", "qgg8vlvZRS6UYooatFL8Aw"),
	}, out)
	assert.Equal(t, "b17f0320a1322a509340a1a835b3d9edbc491f0b0790ed2d20d0604d39dfe922", out.(map[string]any)["encryptedToken"])
}
