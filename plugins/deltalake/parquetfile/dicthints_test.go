package parquetfile

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// dictColumns returns, per column path, whether the file's first row
// group has a dictionary page for it.
func dictColumns(t *testing.T, data []byte) map[string]bool {
	t.Helper()
	rdr, err := file.NewParquetReader(bytes.NewReader(data))
	require.NoError(t, err)
	defer rdr.Close()
	rg := rdr.MetaData().RowGroup(0)
	out := map[string]bool{}
	for j := 0; j < rg.NumColumns(); j++ {
		cc, err := rg.ColumnChunk(j)
		require.NoError(t, err)
		out[cc.PathInSchema().String()] = cc.HasDictionaryPage()
	}
	return out
}

func writeWith(t *testing.T, rec arrow.RecordBatch, hints *DictionaryHints) []byte {
	t.Helper()
	var out bytes.Buffer
	fw, err := NewFileWriter(&out, rec.Schema(), WriterOptions{DictionaryHints: hints})
	require.NoError(t, err)
	require.NoError(t, fw.Write(rec))
	_, err = fw.Close()
	require.NoError(t, err)
	return out.Bytes()
}

// TestDictionaryHintsSkipDictionariesThatDidNotPayOff checks that after a
// first file, the columns whose dictionary was dropped are written plain
// straight away, the others keep theirs, the file is the same size and
// reads back the same, and that a probe file every dictionaryProbeEvery
// files tries every column again.
func TestDictionaryHintsSkipDictionariesThatDidNotPayOff(t *testing.T) {
	d, err := jsonrows.NewDecoder(webSchema(), jsonrows.DecoderOptions{})
	require.NoError(t, err)
	buf := d.NewBuffer(nil)
	defer buf.Release()
	for _, r := range webEvents(3000) {
		require.NoError(t, buf.AppendJSON(r))
	}
	rec := buf.NewRecord()
	defer rec.Release()

	unhinted := writeWith(t, rec, nil)
	want := dictColumns(t, unhinted)
	require.True(t, want["method"], "a low-cardinality column keeps its dictionary")
	require.False(t, want["request_id"], "a unique id falls back to plain")

	hints := NewDictionaryHints()
	first := writeWith(t, rec, hints) // learns
	require.Equal(t, want, dictColumns(t, first))
	plain := hints.plainColumns()
	hints.files-- // plainColumns counted a file: undo for the count below
	for p, dict := range want {
		require.Equal(t, !dict, plain[p], "column %s", p)
	}

	second := writeWith(t, rec, hints) // request_id & co. written plain at once
	require.Equal(t, want, dictColumns(t, second))
	require.Len(t, second, len(unhinted), "hints must not change the file")
	require.JSONEq(t, recordJSON(t, rec), recordJSON(t, tableRecord(t, readParquet(t, second))))

	// Files 3..31 use the hints, file 32 probes every column.
	for hints.files < dictionaryProbeEvery-1 {
		require.NotEmpty(t, hints.plainColumns())
	}
	require.Nil(t, hints.plainColumns(), "every dictionaryProbeEvery-th file tries all dictionaries")
}
