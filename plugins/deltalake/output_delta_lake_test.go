package deltalake

import (
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigLint(t *testing.T) {
	linter := service.GlobalEnvironment().NewComponentConfigLinter()
	tests := []struct {
		name string
		yaml string
		lint string // substring of the first lint, "" for none
	}{
		{"minimal", "delta_lake:\n  path: /tmp/t\n", ""},
		{"full", `
delta_lake:
  path: s3://lake/${! meta("danube_topic") }
  partition_by: [ date ]
  partition_mapping: 'root.date = this.day'
  schema_evolution: none
  compression: snappy
  target_file_size: 64MiB
  flush_period: 500ms
  max_buffered_bytes: 32MiB
  metadata_columns: { topic: t, offset: o, publish_time: p }
  checkpoint_interval: 10
  writer_id: pod-0
  exactly_once: { enabled: true, history_commits: 100, history_period: 24h }
  storage:
    s3: { region: eu-west-1, endpoint: "http://127.0.0.1:19000", access_key_id: a, secret_access_key: b, force_path_style: true }
    azure: { account: acc, key: k, endpoint: "http://127.0.0.1:10000/acc" }
    gcs: { endpoint: "http://127.0.0.1:4443" }
  optimize: { enabled: true, interval: 1h, target_file_size: 256MiB, min_files: 5 }
  vacuum: { enabled: true, interval: 24h, retention: 168h }
  max_in_flight: 8
  batching: { count: 1000, period: 100ms }
`, ""},
		{"missing path", "delta_lake:\n  flush_period: 1s\n", "path"},
		{"bad compression", "delta_lake:\n  path: /t\n  compression: gzip\n", "not a valid option"},
		{"bad evolution", "delta_lake:\n  path: /t\n  schema_evolution: add\n", "not a valid option"},
		{"mapping without partition_by", "delta_lake:\n  path: /t\n  partition_mapping: 'root.d = 1'\n", "partition_mapping needs partition_by"},
		{"unknown field", "delta_lake:\n  path: /t\n  nope: 1\n", "nope"},
		{"bad bloblang", "delta_lake:\n  path: /t\n  partition_by: [d]\n  partition_mapping: 'root.d = ('\n", "expected query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lints, err := linter.LintOutputYAML([]byte(tt.yaml))
			if tt.lint == "" {
				require.NoError(t, err)
				assert.Empty(t, lints)
				return
			}
			if err != nil {
				assert.ErrorContains(t, err, tt.lint)
				return
			}
			require.NotEmpty(t, lints)
			assert.Contains(t, lints[0].What, tt.lint)
		})
	}
}

func TestConfigParse(t *testing.T) {
	pConf, err := dlSpec().ParseYAML(`
path: /tmp/t
target_file_size: 64MiB
max_buffered_bytes: 1GB
flush_period: 250ms
metadata_columns: { offset: off }
storage: { s3: { secret_access_key: s3cr3t } }
`, nil)
	require.NoError(t, err)
	c, err := dlConfigFromParsed(pConf)
	require.NoError(t, err)
	assert.Equal(t, int64(64<<20), c.targetFileSize)
	assert.Equal(t, int64(1_000_000_000), c.maxBufferedBytes)
	assert.Equal(t, 250*time.Millisecond, c.flushPeriod)
	assert.Equal(t, "off", c.metaOffsetColumn)
	assert.Equal(t, "zstd", c.compression)
	assert.Equal(t, "merge", c.schemaEvolution)
	assert.Equal(t, 10, c.checkpointEvery)
	assert.True(t, c.exactlyOnce)
	assert.Equal(t, "s3cr3t", c.storage.storeOptions().S3.SecretAccessKey)

	bad := []struct{ yaml, err string }{
		{"path: /t\ntarget_file_size: lots\n", "target_file_size"},
		{"path: /t\nmax_buffered_bytes: 0B\n", "max_buffered_bytes"},
		{"path: /t\nflush_period: 0s\n", "flush_period"},
		{"path: /t\nmax_open_tables: 0\n", "max_open_tables"},
		{"path: /t\npartition_by: [a, a]\n", "partition_by"},
		{"path: /t\npartition_mapping: 'root.a = 1'\n", "partition_by"},
		{"path: /t\ncheckpoint_interval: -1\n", "checkpoint_interval"},
		{"path: /t\nexactly_once: { history_commits: 0 }\n", "history_commits"},
		{"path: /t\nmetadata_columns: { topic: x, offset: x }\n", "metadata_columns"},
	}
	for _, b := range bad {
		pConf, err := dlSpec().ParseYAML(b.yaml, nil)
		require.NoError(t, err, b.yaml)
		_, err = dlConfigFromParsed(pConf)
		assert.ErrorContains(t, err, b.err, b.yaml)
	}
}

func TestSecretsAreMarked(t *testing.T) {
	spec := dlSpec()
	env := service.NewEnvironment()
	require.NoError(t, env.RegisterBatchOutput("delta_lake_secret_probe", spec,
		func(*service.ParsedConfig, *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			return nil, service.BatchPolicy{}, 1, nil
		}))
	var secrets []string
	env.WalkOutputs(func(name string, v *service.ConfigView) {
		if name != "delta_lake_secret_probe" {
			return
		}
		td, err := v.TemplateData()
		require.NoError(t, err)
		for _, f := range td.Fields {
			if f.IsSecret {
				secrets = append(secrets, f.FullName)
			}
		}
	})
	assert.ElementsMatch(t, []string{
		"storage.s3.secret_access_key", "storage.s3.session_token",
		"storage.azure.key", "storage.azure.sas_token", "storage.gcs.credentials_json",
	}, secrets)
}

func TestPartitionDirEscaping(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		cols []string
		vals []*string
		want string
	}{
		{nil, nil, ""},
		{[]string{"date"}, []*string{s("2024-01-01")}, "date=2024-01-01"},
		{[]string{"x"}, []*string{s("A/A")}, "x=A%2FA"},
		{[]string{"x"}, []*string{s("B B")}, "x=B%20B"},
		{[]string{"x"}, []*string{s("a=b%c")}, "x=a%3Db%25c"},
		{[]string{"x"}, []*string{s("é")}, "x=%C3%A9"},
		{[]string{"x"}, []*string{nil}, "x=__HIVE_DEFAULT_PARTITION__"},
		{[]string{"x"}, []*string{s("")}, "x=__HIVE_DEFAULT_PARTITION__"},
		{[]string{"a", "b c"}, []*string{s("1"), s("..")}, "a=1/b%20c=.."},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, partitionDir(tt.cols, tt.vals))
	}
	assert.NotEqual(t, partitionKey([]*string{nil}), partitionKey([]*string{s("")}))
	assert.NotEqual(t, partitionKey([]*string{s("a"), s("b")}), partitionKey([]*string{s("ab"), nil}))
}
