package webhook

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vtLint lints one processor config and returns the lint messages.
func vtLint(t *testing.T, yaml string) []string {
	t.Helper()
	lints, err := service.NewEnvironment().NewComponentConfigLinter().LintProcessorYAML([]byte(yaml))
	require.NoError(t, err)
	var out []string
	for _, l := range lints {
		out = append(out, l.What)
	}
	return out
}

// vtNewProcessor parses conf with the processor's spec and constructs it
// directly (as Benthos would), so constructor errors can be inspected.
func vtNewProcessor(t *testing.T, name, conf string) (service.Processor, error) {
	t.Helper()
	spec := map[string]*service.ConfigSpec{
		"webhook_signature": webhookSignatureProcessorSpec(),
		"jwt_verify":        jwtVerifyProcessorSpec(),
		"api_key":           apiKeyProcessorSpec(),
	}[name]
	require.NotNil(t, spec, name)
	parsed, err := spec.ParseYAML(conf, nil)
	if err != nil {
		return nil, err
	}
	res := service.MockResources()
	var proc service.Processor
	switch name {
	case "webhook_signature":
		var c wspConfig
		if c, err = wspConfigFromParsed(parsed); err == nil {
			proc, err = newWebhookSignatureProcessor(c, res)
		}
	case "jwt_verify":
		var c jvpConfig
		if c, err = jvpConfigFromParsed(parsed); err == nil {
			proc, err = newJWTVerifyProcessor(c, res)
		}
	case "api_key":
		var c akpConfig
		if c, err = akpConfigFromParsed(parsed); err == nil {
			proc, err = newAPIKeyProcessor(c, res)
		}
	}
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = proc.Close(context.Background()) })
	return proc, nil
}

// vtMsg builds a message with metadata.
func vtMsg(body string, meta map[string]string) *service.Message {
	m := service.NewMessage([]byte(body))
	for k, v := range meta {
		m.MetaSetMut(k, v)
	}
	return m
}

// vtStatus returns the HTTP status a processor error asks webhook_server for.
func vtStatus(err error) int {
	var sc interface{ WebhookStatus() int }
	if errors.As(err, &sc) {
		return sc.WebhookStatus()
	}
	return 0
}

// vtStream runs processors (YAML list items) in a stream fed by a producer
// with http_server-like metadata and returns the produce function and the
// collected output.
type vtCollected struct {
	mu   sync.Mutex
	msgs []*service.Message
}

func (c *vtCollected) all() []*service.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*service.Message(nil), c.msgs...)
}

func vtStream(t *testing.T, processorsYAML string, threads int) (service.MessageHandlerFunc, *vtCollected) {
	t.Helper()
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	require.NoError(t, sb.AddProcessorYAML(processorsYAML))
	// Errored messages are kept (flagged) so the test sees every outcome.
	require.NoError(t, sb.AddProcessorYAML(`catch:
  - mapping: |
      meta verify_error = error()
`))
	sb.SetThreads(threads)
	produce, err := sb.AddProducerFunc()
	require.NoError(t, err)
	out := &vtCollected{}
	require.NoError(t, sb.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		out.mu.Lock()
		out.msgs = append(out.msgs, m)
		out.mu.Unlock()
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
		require.NoError(t, strm.StopWithin(10*time.Second))
		cancel()
		<-done
	})
	return produce, out
}

func TestVerifyMetadataHeaders(t *testing.T) {
	m := vtMsg("", map[string]string{"X-Hub-Signature-256": "a", "x-lower": "b"})
	h := vcMetadataHeaders(m)
	v, ok := h("X-Hub-Signature-256")
	assert.True(t, ok)
	assert.Equal(t, "a", v)
	v, ok = h("X-Lower")
	assert.True(t, ok)
	assert.Equal(t, "b", v)
	_, ok = h("X-None")
	assert.False(t, ok)
	assert.Equal(t, "", canonicalHeader(""))
	assert.Equal(t, "X-Api-Key", canonicalHeader("x-api-key"))
}

// Every documented example of the three processors must lint cleanly as a
// stream config.
func TestVerifyProcessorExamplesLint(t *testing.T) {
	for _, env := range []string{"GITHUB_WEBHOOK_SECRET", "STRIPE_SECRET_NEW", "STRIPE_SECRET_OLD", "HOOK_SECRET", "JWT_SECRET", "ACME_API_KEY", "GLOBEX_API_KEY"} {
		t.Setenv(env, "x")
	}
	n := 0
	for _, name := range []string{"webhook_signature", "jwt_verify", "api_key"} {
		view, ok := service.GlobalEnvironment().GetProcessorConfig(name)
		require.True(t, ok, name)
		td, err := view.TemplateData()
		require.NoError(t, err)
		require.NotEmpty(t, td.Examples, name)
		for _, ex := range td.Examples {
			sb := service.NewStreamBuilder()
			assert.NoError(t, sb.SetYAML(ex.Config), "%s: %s", name, ex.Title)
			n++
		}
	}
	assert.Equal(t, 6, n)

	// The check can fail: a lint error is reported by SetYAML.
	bad := "pipeline:\n  processors:\n    - webhook_signature: { preset: generic, secrets: [ s ] }\n"
	assert.ErrorContains(t, service.NewStreamBuilder().SetYAML(bad), "generic.header is required")
}
