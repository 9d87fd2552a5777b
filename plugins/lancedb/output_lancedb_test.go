package lancedb

import (
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
	"github.com/danube-connect/danube-connect/plugins/lancedb/lancerows"
	"github.com/danube-connect/danube-connect/plugins/lancedb/lancestore"
)

func parseConfig(t *testing.T, yaml string) (ldbConfig, error) {
	t.Helper()
	conf, err := ldbSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	return ldbConfigFromParsed(conf)
}

func TestConfigFromParsed(t *testing.T) {
	c, err := parseConfig(t, `
uri: s3://vectors/rag
table: '${! meta("topic") }'
id: { name: doc_id, path: meta.id, type: int64 }
vector: { name: emb, path: embedding, dimension: 1536, element_type: float16 }
columns:
  - { name: text, type: string, required: true }
  - { name: metadata, path: meta, type: json }
payload_format: ndjson
vector_encoding: base64_f32
create_table: false
index: { type: ivf_hnsw_sq, min_rows: 5000 }
s3: { region: eu-west-1, endpoint: http://127.0.0.1:9000, access_key_id: k, secret_access_key: s }
max_open_tables: 3
`)
	require.NoError(t, err)
	o := c.store
	assert.Equal(t, "s3://vectors/rag", o.URI)
	assert.False(t, o.CreateMissing)
	assert.Equal(t, jsonrows.FormatNDJSON, c.format)
	assert.Equal(t, lancerows.Column{Name: "doc_id", Path: "meta.id", Type: lancerows.Int64, Required: true}, o.Schema.ID)
	assert.Equal(t, lancerows.Vector{Name: "emb", Path: "embedding", Dimension: 1536, Element: lancerows.ElementFloat16,
		Encoding: lancerows.EncodingBase64F32}, o.Schema.Vector)
	assert.Equal(t, []lancerows.Column{{Name: "text", Type: lancerows.String, Required: true},
		{Name: "metadata", Path: "meta", Type: lancerows.JSON}}, o.Schema.Columns)
	assert.Equal(t, lancestore.Index{Type: lancestore.IndexIVFHNSWSQ, MinRows: 5000}, o.Index)
	assert.Equal(t, lancestore.S3{Region: "eu-west-1", Endpoint: "http://127.0.0.1:9000", AccessKeyID: "k", SecretAccessKey: "s"}, o.S3)
	assert.Equal(t, 3, o.MaxOpenTables)

	c, err = parseConfig(t, `{uri: /tmp/x, table: t, vector: {dimension: 8}}`)
	require.NoError(t, err)
	assert.Equal(t, "id", c.store.Schema.ID.Name)
	assert.Equal(t, lancerows.String, c.store.Schema.ID.Type)
	assert.Equal(t, "vector", c.store.Schema.Vector.Name)
	assert.Equal(t, lancerows.EncodingJSON, c.store.Schema.Vector.Encoding)
	assert.True(t, c.store.CreateMissing)
	assert.Equal(t, int64(0), c.store.Index.MinRows)

	for yaml, want := range map[string]string{
		`{uri: /tmp/x, table: t, vector: {dimension: 5000}}`:                                              "dimension 5000 out of range 1..4096",
		`{uri: "", table: t, vector: {dimension: 8}}`:                                                     "uri is empty",
		`{uri: /tmp/x, table: t, vector: {dimension: 8}, columns: [{name: id, type: string}]}`:            `name "id" is already used by id`,
		`{uri: /tmp/x, table: t, vector: {dimension: 8}, index: {min_rows: -1}}`:                          "index.min_rows is negative",
		`{uri: /tmp/x, table: t, vector: {dimension: 8}, max_open_tables: 0}`:                             "max_open_tables must be at least 1",
		`{uri: /tmp/x, table: t, vector: {dimension: 8}, columns: [{name: a, path: "x..y", type: json}]}`: `path "x..y" has an empty key`,
	} {
		_, err := parseConfig(t, yaml)
		assert.ErrorContains(t, err, want, yaml)
	}
}

func TestSpecLintsAndDefaults(t *testing.T) {
	env := service.NewEnvironment()
	lint := func(yaml string) error {
		return env.NewStreamBuilder().AddOutputYAML(yaml)
	}
	assert.NoError(t, lint(`lancedb: {uri: /tmp/x, table: t, vector: {dimension: 768}}`))
	assert.ErrorContains(t, lint(`lancedb: {uri: /tmp/x, table: t, vector: {dimension: 0}}`), "vector.dimension must be 1 to 4096")
	assert.Error(t, lint(`lancedb: {uri: /tmp/x, table: t, vector: {dimension: 8}, vector_encoding: hex}`))
	assert.Error(t, lint(`lancedb: {uri: /tmp/x, table: t, vector: {dimension: 8}, index: {type: hnsw}}`))

	conf, err := ldbSpec().ParseYAML(`{uri: /tmp/x, table: t, vector: {dimension: 8}}`, nil)
	require.NoError(t, err)
	policy, err := ldbBatchPolicy(conf)
	require.NoError(t, err)
	assert.Equal(t, 10000, policy.Count)
	assert.Equal(t, 8<<20, policy.ByteSize)
	assert.Equal(t, "1s", policy.Period)
	conf, err = ldbSpec().ParseYAML(`{uri: /tmp/x, table: t, vector: {dimension: 8}, batching: {count: 7}}`, nil)
	require.NoError(t, err)
	policy, err = ldbBatchPolicy(conf)
	require.NoError(t, err)
	assert.Equal(t, 7, policy.Count)
	assert.Equal(t, "", policy.Period)
}
