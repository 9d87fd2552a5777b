package delta

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProtocolGate(t *testing.T) {
	plain := `{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":{}}]}`
	withMeta := func(key, val string) string {
		return `{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":{"` + key + `":` + val + `}}]}`
	}
	ntz := `{"type":"struct","fields":[{"name":"t","type":"timestamp_ntz","nullable":true,"metadata":{}}]}`
	md := func(schema string, conf map[string]string) *Metadata {
		if conf == nil {
			conf = map[string]string{}
		}
		return &Metadata{ID: "x", SchemaString: schema, Configuration: conf}
	}
	p37 := func(r, w []string) Protocol {
		return Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: r, WriterFeatures: w}
	}
	cases := []struct {
		name    string
		p       Protocol
		m       *Metadata
		feature string // "" = accepted
	}{
		{"default", DefaultProtocol(), md(plain, nil), ""},
		{"legacy 1/1", Protocol{MinReaderVersion: 1, MinWriterVersion: 1}, md(plain, nil), ""},
		{"appendOnly + cdf at 7", p37(nil, []string{"appendOnly", "changeDataFeed", "domainMetadata"}), md(plain, nil), ""},
		{"ntz with features", p37([]string{"timestampNtz"}, []string{"timestampNtz"}), md(ntz, nil), ""},
		{"ntz without features", DefaultProtocol(), md(ntz, nil), "timestampNtz"},
		{"deletion vectors", p37([]string{"deletionVectors"}, []string{"deletionVectors"}), md(plain, nil), "deletionVectors"},
		{"v2 checkpoint", p37([]string{"v2Checkpoint"}, []string{"v2Checkpoint"}), md(plain, nil), "v2Checkpoint"},
		{"row tracking", p37(nil, []string{"rowTracking", "domainMetadata"}), md(plain, nil), "rowTracking"},
		{"column mapping at 2/5", Protocol{MinReaderVersion: 2, MinWriterVersion: 5}, md(plain, map[string]string{ConfigColumnMappingMode: "name"}), "columnMapping"},
		{"column mapping feature", p37([]string{"columnMapping"}, []string{"columnMapping"}), md(plain, map[string]string{ConfigColumnMappingMode: "id"}), "columnMapping"},
		{"unknown writer feature", p37(nil, []string{"somethingNew"}), md(plain, nil), "somethingNew"},
		{"reader 4", Protocol{MinReaderVersion: 4, MinWriterVersion: 7}, md(plain, nil), "minReaderVersion=4"},
		{"check constraint in use", Protocol{MinReaderVersion: 1, MinWriterVersion: 3}, md(plain, map[string]string{"delta.constraints.positive": "a > 0"}), "checkConstraints"},
		{"invariant in use", DefaultProtocol(), md(withMeta("delta.invariants", `"{\"expression\":{\"expression\":\"a > 0\"}}"`), nil), "invariants"},
		{"generated column", Protocol{MinReaderVersion: 1, MinWriterVersion: 4}, md(withMeta("delta.generationExpression", `"a + 1"`), nil), "generatedColumns"},
		{"identity column", Protocol{MinReaderVersion: 1, MinWriterVersion: 6}, md(withMeta("delta.identity.start", `1`), nil), "identityColumns"},
		{"generated feature unused", p37(nil, []string{"generatedColumns", "identityColumns", "invariants", "checkConstraints"}), md(plain, nil), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckWriteSupport(c.p, c.m)
			if c.feature == "" {
				assert.NoError(t, err)
				return
			}
			var ufe *UnsupportedFeatureError
			require.True(t, errors.As(err, &ufe), "got %v", err)
			assert.Equal(t, c.feature, ufe.Feature)
			assert.ErrorIs(t, err, ErrUnsupportedFeature)
			assert.Contains(t, err.Error(), c.feature)
		})
	}
}

// A foreign table whose protocol we cannot honour is refused at commit time
// and left untouched.
func TestCommitRefusesUnsupportedTable(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	require.NoError(t, store.Put(ctx, CommitKey(0), []byte(
		`{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}}
{"metaData":{"id":"f","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":{}}}
`)))
	tbl, err := Open(ctx, store, TableOptions{CheckpointInterval: -1})
	require.NoError(t, err, "reading the log is fine")
	assert.ErrorIs(t, tbl.CanWrite(), ErrUnsupportedFeature)
	tx := tbl.NewTransaction()
	tx.Adds = []Add{newAdd("")}
	_, err = tbl.Commit(ctx, tx)
	assert.ErrorIs(t, err, ErrUnsupportedFeature)
	assert.ErrorContains(t, err, "deletionVectors")
	assert.Len(t, store.keys(LogDir), 1)
}
