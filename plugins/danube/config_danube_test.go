package danube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

var danubeConfigs = []string{
	"danube_stdin_to_danube.yaml",
	"danube_to_stdout.yaml",
	"danube_to_danube.yaml",
}

// runCLI runs the Benthos CLI in-process on the global environment, which
// holds our components and the standard ones imported above.
func runCLI(t *testing.T, args ...string) int {
	t.Helper()
	code, err := service.RunCLIToCode(context.Background(), service.CLIOptSetArgs(append([]string{"danube-connect"}, args...)...))
	require.NoError(t, err)
	return code
}

func TestDanubeConfigsLint(t *testing.T) {
	for _, name := range danubeConfigs {
		path := filepath.Join("..", "..", "config", name)
		assert.Equal(t, 0, runCLI(t, "lint", path), "lint %s", path)
	}
}

func TestDanubeToDanubeConfigUnitTests(t *testing.T) {
	assert.Equal(t, 0, runCLI(t, "test", filepath.Join("..", "..", "config", "danube_to_danube.yaml")))
}

func TestSharedFieldsParsing(t *testing.T) {
	spec := service.NewConfigSpec().Fields(dcURLField()).Fields(dcCommonFields()...)
	for _, tc := range []struct {
		name, yaml, errContains string
		check                   func(*testing.T, parsedClient)
	}{
		{name: "defaults", yaml: `url: http://127.0.0.1:6650`, check: func(t *testing.T, o parsedClient) {
			assert.Equal(t, "http://127.0.0.1:6650", o.URL)
			assert.False(t, o.TLS.Enabled)
			assert.Equal(t, 10, o.Backoff.MaxRetries)
			assert.Equal(t, "5s", o.HealthCheckInterval.String())
		}},
		{name: "tls and token", yaml: `
url: https://broker:6650
token: secret
tls: { enabled: true, ca_file: ca.pem, cert_file: c.pem, key_file: k.pem, server_name: broker.local }
backoff: { initial_interval: 1s, max_interval: 2s, max_retries: 0 }
`, check: func(t *testing.T, o parsedClient) {
			assert.Equal(t, "secret", o.Token)
			assert.True(t, o.TLS.Enabled)
			assert.Equal(t, "ca.pem", o.TLS.CAFile)
			assert.Equal(t, "broker.local", o.TLS.ServerName)
			assert.Equal(t, -1, o.Backoff.MaxRetries, "0 retries is kept as 'none', not 'default'")
		}},
		{name: "empty url", yaml: `url: ""`, errContains: "url"},
		{name: "cert without key", yaml: "url: x\ntls: { cert_file: c.pem }", errContains: "key_file"},
		{name: "negative retries", yaml: "url: x\nbackoff: { max_retries: -1 }", errContains: "max_retries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc, err := spec.ParseYAML(tc.yaml, nil)
			require.NoError(t, err)
			o, err := dcClientOptionsFromParsed(pc, nil)
			if tc.errContains != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.errContains)
				return
			}
			require.NoError(t, err)
			tc.check(t, o)
		})
	}
}

type parsedClient = client.Options

func TestConnectionTests(t *testing.T) {
	b := danubetest.Start(t)
	ctx := context.Background()
	topic := testTopic(t)
	createTopic(t, b.URL(), topic, 0)

	ok := newTestInput(t, fmt.Sprintf("url: %s\ntopics: [ %s ]\nsubscription: s\n%s", b.URL(), topic, fastBackoff))
	res := ok.ConnectionTest(ctx)
	require.Len(t, res, 1)
	assert.NoError(t, res[0].Err)

	missing := newTestInput(t, fmt.Sprintf("url: %s\ntopics: [ /default/missing-topic ]\nsubscription: s\n%s", b.URL(), fastBackoff))
	res = missing.ConnectionTest(ctx)
	require.Len(t, res, 1)
	assert.ErrorContains(t, res[0].Err, "/default/missing-topic")

	out := newTestOutput(t, fmt.Sprintf("url: %s\ntopic: %s\n%s", b.URL(), topic, fastBackoff))
	res = out.ConnectionTest(ctx)
	require.Len(t, res, 1)
	assert.NoError(t, res[0].Err)

	b.Stop()
	res = out.ConnectionTest(ctx)
	require.Len(t, res, 1)
	assert.Error(t, res[0].Err)
}

// TestDanubeConfigsBindDistinctHTTPAddresses: the quickstart runs these
// examples side by side; each must bind its own service HTTP server.
func TestDanubeConfigsBindDistinctHTTPAddresses(t *testing.T) {
	seen := map[string]string{}
	for _, name := range danubeConfigs {
		raw, err := os.ReadFile(filepath.Join("..", "..", "config", name))
		require.NoError(t, err)
		var doc struct {
			HTTP struct {
				Address string `yaml:"address"`
			} `yaml:"http"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &doc), name)
		addr := doc.HTTP.Address
		require.NotEmpty(t, addr, "%s sets no http.address (Benthos' default 0.0.0.0:4195 collides)", name)
		if i := strings.LastIndex(addr, ":"); i >= 0 {
			addr = strings.TrimSuffix(addr[i+1:], "}") // the port of ${HTTP_ADDRESS:host:port}
		}
		require.NotContains(t, seen, addr, "%s and %s bind the same port", name, seen[addr])
		seen[addr] = name
	}
}
