// Package sinkspec holds the Benthos config fields that every danube-connect
// sink shares, so that each is declared, documented and parsed in one place.
package sinkspec

import (
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// FieldPayloadFormat is the name of the shared `payload_format` field.
const FieldPayloadFormat = "payload_format"

// PayloadFormatField declares `payload_format` with the same meaning in every sink.
func PayloadFormatField() *service.ConfigField {
	return service.NewStringAnnotatedEnumField(FieldPayloadFormat, map[string]string{
		"json":       "The message is one JSON object: one row.",
		"ndjson":     "The message holds one JSON object per line (blank lines are skipped): one row per line.",
		"json_array": "The message is one JSON array: one row per element.",
	}).Description("How rows are carried in a message. Producers that publish many rows per message " +
		"(IoT gateways, batch exporters, CDC) avoid the per-message framework cost with `ndjson` or " +
		"`json_array`. A row that cannot be written fails its whole message with an error naming the " +
		"row number; the other messages of the batch are written.").
		Default("json")
}

// PayloadFormatFromParsed reads `payload_format`.
func PayloadFormatFromParsed(conf *service.ParsedConfig) (jsonrows.Format, error) {
	s, err := conf.FieldString(FieldPayloadFormat)
	if err != nil {
		return 0, err
	}
	return jsonrows.ParseFormat(s)
}
