package sinkspec

import (
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

func TestPayloadFormatField(t *testing.T) {
	spec := service.NewConfigSpec().Field(PayloadFormatField())
	for yaml, want := range map[string]jsonrows.Format{
		``:                           jsonrows.FormatJSON,
		`payload_format: ndjson`:     jsonrows.FormatNDJSON,
		`payload_format: json_array`: jsonrows.FormatJSONArray,
	} {
		conf, err := spec.ParseYAML(yaml, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := PayloadFormatFromParsed(conf)
		if err != nil || got != want {
			t.Fatalf("%q: %v %v", yaml, got, err)
		}
	}
	conf, err := spec.ParseYAML(`payload_format: csv`, nil)
	if err == nil {
		if _, err = PayloadFormatFromParsed(conf); err == nil {
			t.Fatal("csv accepted")
		}
	}
}
