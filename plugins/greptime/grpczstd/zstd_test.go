package grpczstd

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"

	"google.golang.org/grpc/encoding"
)

// Pooled encoders and decoders round-trip concurrently, also when a reader
// is read again after its EOF.
func TestRoundTripConcurrent(t *testing.T) {
	c := encoding.GetCompressor(Name)
	if c == nil {
		t.Fatal("zstd compressor not registered")
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				want := bytes.Repeat([]byte(fmt.Sprintf("row %d-%d,", g, i)), 1+i*20)
				var buf bytes.Buffer
				w, err := c.Compress(&buf)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := w.Write(want); err != nil {
					t.Error(err)
					return
				}
				if err := w.Close(); err != nil {
					t.Error(err)
					return
				}
				r, err := c.Decompress(&buf)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("round trip: %v, %d of %d bytes", err, len(got), len(want))
					return
				}
				if n, err := r.Read(make([]byte, 8)); n != 0 || err != io.EOF {
					t.Errorf("read after EOF: %d %v", n, err)
				}
			}
		}()
	}
	wg.Wait()
}
