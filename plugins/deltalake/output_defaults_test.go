package deltalake

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBatchingDefaultsToManyRowsPerCall(t *testing.T) {
	cases := []struct {
		yaml   string
		count  int
		bytes  int
		period string
	}{
		{yaml: "path: /tmp/t\n", count: dlDefaultBatchCount, period: dlDefaultBatchPeriod},
		{yaml: "path: /tmp/t\nbatching:\n  count: 1\n", count: 1, period: ""},
		{yaml: "path: /tmp/t\nbatching:\n  period: 1s\n", count: 0, period: "1s"},
		{yaml: "path: /tmp/t\npayload_format: ndjson\n", count: 0, bytes: dlDefaultBatchBytes, period: dlDefaultBatchPeriod},
		{yaml: "path: /tmp/t\npayload_format: json_array\nbatching:\n  count: 3\n", count: 3, period: ""},
	}
	for _, c := range cases {
		conf, err := dlSpec().ParseYAML(c.yaml, nil)
		require.NoError(t, err)
		policy, err := dlBatchPolicy(conf)
		require.NoError(t, err)
		require.Equal(t, c.count, policy.Count, c.yaml)
		require.Equal(t, c.bytes, policy.ByteSize, c.yaml)
		require.Equal(t, c.period, policy.Period, c.yaml)
	}
	conf, err := dlSpec().ParseYAML("path: /tmp/t\n", nil)
	require.NoError(t, err)
	mif, err := conf.FieldMaxInFlight()
	require.NoError(t, err)
	require.Equal(t, 4, mif, "default max_in_flight")
}
