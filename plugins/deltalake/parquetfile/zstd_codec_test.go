package parquetfile

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

func TestZstdPageCodecIsRegisteredAndRoundTrips(t *testing.T) {
	codec, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	pc, ok := codec.(*zstdPageCodec)
	if !ok {
		t.Fatalf("zstd codec is %T, want *zstdPageCodec", codec)
	}
	if _, ok := codec.(compress.StreamingCodec); !ok {
		t.Fatal("the codec must stay a StreamingCodec: arrow-go's page reader needs it")
	}
	// Larger than the window, with repeats inside and beyond it.
	var page bytes.Buffer
	for i := 0; page.Len() < 3*zstdWindowSize; i++ {
		fmt.Fprintf(&page, `{"id":%d,"path":"/api/v1/orders","n":%d}`, i, i%977)
	}
	src := page.Bytes()
	for _, level := range []int{1, 3, compress.DefaultCompressionLevel} {
		enc := codec.EncodeLevel(nil, src, level)
		if len(enc) >= len(src)/4 {
			t.Errorf("level %d: %d bytes compressed to %d: not compressing", level, len(src), len(enc))
		}
		if got := codec.Decode(nil, enc); !bytes.Equal(got, src) {
			t.Fatalf("level %d: arrow-go decode differs from the input", level)
		}
		// Plain zstd, readable by any decoder.
		d, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.DecodeAll(enc, nil)
		d.Close()
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("level %d: standalone zstd decode: %v", level, err)
		}
	}
	// The encoder used goes back to the free list for the next page.
	if n := len(pc.pools[zstd.SpeedFastest]); n != 1 {
		t.Errorf("level 1 free list holds %d encoders after sequential use, want 1", n)
	}
}
