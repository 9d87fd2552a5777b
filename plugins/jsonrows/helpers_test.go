package jsonrows

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"
)

var tsUTC = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

func recordJSON(t *testing.T, rec arrow.RecordBatch) string {
	t.Helper()
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	return string(b)
}

func eventRow(i int) []byte {
	return fmt.Appendf(nil, `{"id":%d,"name":"user-%d","ts":"2024-01-01T00:00:%02d.%06dZ","user":{"age":%d,"tags":["a","b%d"]}}`, i, i%97, i%60, i, i%90, i%7)
}

func eventSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ts", Type: tsUTC, Nullable: true},
		{Name: "user", Type: arrow.StructOf(
			arrow.Field{Name: "age", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			arrow.Field{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		), Nullable: true},
	}, nil)
}
