package delta

import (
	"testing"
)

// Fuzz targets; `go test` runs the seed corpus only, `go test -fuzz` explores.

func FuzzParseActions(f *testing.F) {
	f.Add([]byte(`{"add":{"path":"a%20b.parquet","partitionValues":{"x":null},"size":1,"modificationTime":2,"dataChange":true}}`))
	f.Add([]byte("{\"commitInfo\":{\"timestamp\":1,\"readVersion\":\"x\"}}\n\n{\"txn\":{\"appId\":\"a\",\"version\":3}}\r\n"))
	f.Add([]byte(`{"metaData":null,"remove":{"path":"p","dataChange":false}}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		actions, err := ParseActions(data)
		if err != nil {
			return
		}
		// Whatever parses must re-encode and parse again to the same count.
		out, err := EncodeActions(actions)
		if err != nil {
			t.Fatalf("re-encoding parsed actions: %v", err)
		}
		again, err := ParseActions(out)
		if err != nil {
			t.Fatalf("parsing re-encoded actions: %v\n%s", err, out)
		}
		if len(again) != len(actions) {
			t.Fatalf("round trip changed the number of actions: %d -> %d", len(actions), len(again))
		}
	})
}

func FuzzParseSchema(f *testing.F) {
	f.Add([]byte(richSchema))
	f.Add([]byte(`{"type":"struct","fields":[{"name":"a","type":"decimal(38, 0)","nullable":false,"metadata":{}}]}`))
	f.Add([]byte(`{"type":"struct","fields":[{"name":"m","type":{"type":"map","keyType":"string","valueType":{"type":"struct","fields":[]},"valueContainsNull":true}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSchema(data)
		if err != nil {
			return
		}
		again, err := ParseSchema([]byte(s.String()))
		if err != nil {
			t.Fatalf("re-parsing rendered schema: %v\n%s", err, s.String())
		}
		if !SchemaEqual(s, again) {
			t.Fatalf("schema changed in a render/parse round trip:\n%s\n%s", FormatType(s), FormatType(again))
		}
		if _, err := ToArrow(s); err != nil {
			t.Fatalf("valid schema has no Arrow form: %v", err)
		}
		if _, _, err := MergeSchema(s, s); err != nil {
			t.Fatalf("merging a schema with itself: %v", err)
		}
	})
}
