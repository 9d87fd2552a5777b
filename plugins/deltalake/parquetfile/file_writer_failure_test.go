package parquetfile

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// failingSink accepts limit bytes, then fails every write (an upload that
// broke off).
type failingSink struct {
	buf   bytes.Buffer
	limit int
}

var errUploadFailed = errors.New("upload failed")

func (s *failingSink) Write(p []byte) (int, error) {
	if s.buf.Len()+len(p) > s.limit {
		return 0, errUploadFailed
	}
	return s.buf.Write(p)
}

// TestFailedUploadReleasesWriterBuffers: after a failed upload, closing the
// FileWriter returns every buffer the Parquet encoder took from the
// allocator, at whichever point the sink failed.
func TestFailedUploadReleasesWriterBuffers(t *testing.T) {
	mem := jsonrows.NewRecyclingAllocator(1 << 20)
	dec, err := jsonrows.NewDecoder(eventSchema(), jsonrows.DecoderOptions{})
	require.NoError(t, err)
	for _, limit := range []int{0, 4, 100, 2000, 1 << 30} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			baseline := mem.LiveBuffers()
			buf := dec.NewBuffer(mem)
			for i := 0; i < 500; i++ {
				require.NoError(t, buf.AppendJSON(eventRow(i)))
			}
			rec := buf.NewRecord()
			buf.Release()
			sink := &failingSink{limit: limit}
			fw, err := NewFileWriter(sink, rec.Schema(), WriterOptions{Allocator: mem})
			if err == nil {
				if err = fw.Write(rec); err == nil {
					_, err = fw.Close()
				}
				_, _ = fw.Close()
			}
			rec.Release()
			if limit < 1<<30 {
				require.ErrorIs(t, err, errUploadFailed)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, baseline, mem.LiveBuffers(), "Parquet writer buffers still live after the upload failed at %d bytes", limit)
		})
	}
}
