package delta

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sp(s string) *string { return &s }

func TestActionsRoundTripExactFieldNames(t *testing.T) {
	ts := int64(1700000000000)
	ext := true
	size := int64(10)
	actions := []Action{
		{CommitInfo: &CommitInfo{Timestamp: ts, Operation: "WRITE", OperationParameters: map[string]any{"mode": "Append"},
			ReadVersion: ptr(int64(3)), IsBlindAppend: ptr(true), OperationMetrics: map[string]any{"numFiles": "1"},
			EngineInfo: "danube-connect/test", TxnID: "t1",
			Extra: map[string]json.RawMessage{"danubeOffsets": json.RawMessage(`{"/t-0":[[0,9]]}`)}}},
		{Protocol: &Protocol{MinReaderVersion: 1, MinWriterVersion: 2}},
		{Metadata: &Metadata{ID: "id", Format: Format{Provider: "parquet", Options: map[string]string{}},
			SchemaString: `{"type":"struct","fields":[]}`, PartitionColumns: []string{"d"}, Configuration: map[string]string{}, CreatedTime: &ts}},
		{Add: &Add{Path: "d=a%20b/p.parquet", PartitionValues: map[string]*string{"d": sp("a b"), "n": nil}, Size: 5, ModificationTime: ts, DataChange: true, Stats: `{"numRecords":1}`}},
		{Remove: &Remove{Path: "x.parquet", DeletionTimestamp: &ts, DataChange: false, ExtendedFileMetadata: &ext, PartitionValues: map[string]*string{}, Size: &size}},
		{Txn: &Txn{AppID: "app", Version: 7, LastUpdated: &ts}},
		{DomainMetadata: &DomainMetadata{Domain: "d", Configuration: "{}", Removed: false}},
	}
	data, err := EncodeActions(actions)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Len(t, lines, len(actions))
	// Exact field names from PROTOCOL.md.
	assert.Contains(t, lines[0], `"commitInfo":{`)
	assert.Contains(t, lines[0], `"readVersion":3`)
	assert.Contains(t, lines[0], `"isBlindAppend":true`)
	assert.Contains(t, lines[0], `"engineInfo":"danube-connect/test"`)
	assert.Contains(t, lines[0], `"danubeOffsets":{"/t-0":[[0,9]]}`)
	assert.Equal(t, `{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}`, lines[1])
	assert.Contains(t, lines[2], `"metaData":{"id":"id","format":{"provider":"parquet","options":{}},"schemaString":`)
	assert.Contains(t, lines[2], `"partitionColumns":["d"],"configuration":{},"createdTime":1700000000000`)
	assert.Contains(t, lines[3], `"partitionValues":{"d":"a b","n":null}`)
	assert.Contains(t, lines[3], `"modificationTime":1700000000000,"dataChange":true,"stats":"{\"numRecords\":1}"`)
	assert.Contains(t, lines[4], `"deletionTimestamp":1700000000000,"dataChange":false,"extendedFileMetadata":true,"partitionValues":{},"size":10`)
	assert.Equal(t, `{"txn":{"appId":"app","version":7,"lastUpdated":1700000000000}}`, lines[5])
	assert.Equal(t, `{"domainMetadata":{"domain":"d","configuration":"{}","removed":false}}`, lines[6])

	back, err := DecodeActions(bytes.NewReader(data))
	require.NoError(t, err)
	require.Len(t, back, len(actions))
	assert.Equal(t, actions[1:], back[1:])
	assert.Equal(t, "t1", back[0].CommitInfo.TxnID)
	assert.JSONEq(t, `{"/t-0":[[0,9]]}`, string(back[0].CommitInfo.Extra["danubeOffsets"]))
}

func TestDecodeActionsToleratesUnknown(t *testing.T) {
	in := `{"commitInfo":{"timestamp":"not-a-number","operation":"WRITE","clientVersion":"x"}}

{"cdc":{"path":"_change_data/x.parquet","size":1}}
{"add":{"path":"a.parquet","partitionValues":{},"size":1,"modificationTime":2,"dataChange":true,"newField":{"x":1},"baseRowId":4}}
{"checkpointMetadata":{"version":1}}
`
	acts, err := DecodeActions(strings.NewReader(in))
	require.NoError(t, err)
	require.Len(t, acts, 4)
	assert.Equal(t, "WRITE", acts[0].CommitInfo.Operation)
	assert.NotNil(t, acts[1].Unknown["cdc"])
	assert.Equal(t, "a.parquet", acts[2].Add.Path)
	assert.NotNil(t, acts[3].Unknown["checkpointMetadata"])

	_, err = DecodeActions(strings.NewReader("{\"add\":{\"path\":1}}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 1")
}

func TestEncodeDecodePath(t *testing.T) {
	cases := map[string]string{
		"part-0.parquet":         "part-0.parquet",
		"x=A%2FA/part-0.parquet": "x=A%252FA/part-0.parquet",
		"x=B%20B/p.parquet":      "x=B%2520B/p.parquet",
		"d=2024-01-01/p.parquet": "d=2024-01-01/p.parquet",
		"u=é/p.parquet":          "u=%C3%A9/p.parquet",
		"s=a b/p.parquet":        "s=a%20b/p.parquet",
	}
	for key, want := range cases {
		got := EncodePath(key)
		assert.Equal(t, want, got, key)
		back, err := DecodePath(got)
		require.NoError(t, err)
		assert.Equal(t, key, back)
	}
	_, err := DecodePath("s3://bucket/x.parquet")
	assert.Error(t, err)
}
