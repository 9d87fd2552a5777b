package webhook

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPIKeyLint(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"ok", `api_key: { keys: [ { name: a, key: k } ] }`, ""},
		{"no keys field", `api_key: { header: X-Key }`, "keys"},
		{"empty keys", `api_key: { keys: [] }`, "keys must not be empty"},
		{"key without name", `api_key: { keys: [ { key: k } ] }`, "name"},
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

func TestAPIKeyConfigErrors(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{"keys: []", "at least one key"},
		{"keys: [ { name: a, key: \"\" } ]", "key is empty"},
		{"keys: [ { name: a, key: x }, { name: a, key: y } ]", "duplicate name"},
		{"keys: [ { name: a, key: x } ]\nheader: \"\"\nbearer: false", "must be enabled"},
	} {
		_, err := vtNewProcessor(t, "api_key", tc.conf)
		require.ErrorContains(t, err, tc.want, tc.conf)
	}
}

func TestAPIKeyProcess(t *testing.T) {
	proc, err := vtNewProcessor(t, "api_key", `keys:
  - { name: acme, key: "acme-key-123" }
  - { name: globex, key: "globex-key-456" }
query_param: api_key
`)
	require.NoError(t, err)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		meta   map[string]string
		want   string // api_key_name, "" = rejected
		reason string
		status int
	}{
		{"header", map[string]string{"X-Api-Key": "acme-key-123"}, "acme", "", 0},
		{"bearer", map[string]string{"Authorization": "Bearer globex-key-456"}, "globex", "", 0},
		{"query", map[string]string{"webhook_query": "a=1&api_key=globex-key-456"}, "globex", "", 0},
		{"header wins over query", map[string]string{"X-Api-Key": "acme-key-123", "webhook_query": "api_key=nope"}, "acme", "", 0},
		{"missing", map[string]string{}, "", "api key: missing credential", http.StatusUnauthorized},
		{"basic auth only", map[string]string{"Authorization": "Basic YTpi"}, "", "api key: missing credential", http.StatusUnauthorized},
		{"wrong", map[string]string{"X-Api-Key": "acme-key-12"}, "", "api key: invalid credential", http.StatusUnauthorized},
		{"pre-set name", map[string]string{"X-Api-Key": "bad", "api_key_name": "acme"}, "", "api key: invalid credential", http.StatusUnauthorized},
		{"duplicate header", map[string]string{"X-Api-Key": "acme-key-123\nacme-key-123"}, "", "api key: duplicate header: X-Api-Key", http.StatusBadRequest},
		{"repeated query param", map[string]string{"webhook_query": "api_key=acme-key-123&api_key=x"}, "", "api key: query parameter given more than once", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := vtMsg("{}", tc.meta)
			batch, err := proc.Process(ctx, m)
			if tc.want != "" {
				require.NoError(t, err)
				v, _ := batch[0].MetaGet("api_key_name")
				assert.Equal(t, tc.want, v)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.reason, err.Error())
			assert.Equal(t, tc.status, vtStatus(err))
			_, ok := m.MetaGet("api_key_name")
			assert.False(t, ok)
		})
	}
}

func TestAPIKeyStreamConcurrent(t *testing.T) {
	produce, out := vtStream(t, `api_key:
  keys: [ { name: a, key: key-a }, { name: b, key: key-b } ]
  header: X-Token
`, 4)
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			key := []string{"key-a", "key-b", "key-c"}[i%3]
			assert.NoError(t, produce(context.Background(), vtMsg("{}", map[string]string{"X-Token": key})))
		}(i)
	}
	wg.Wait()
	counts := map[string]int{}
	for _, m := range out.all() {
		if _, bad := m.MetaGet("verify_error"); bad {
			counts["rejected"]++
			continue
		}
		n, _ := m.MetaGet("api_key_name")
		counts[n]++
	}
	assert.Equal(t, map[string]int{"a": 20, "b": 20, "rejected": 20}, counts)
}
