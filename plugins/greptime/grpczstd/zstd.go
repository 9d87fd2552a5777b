// Package grpczstd registers a zstd compressor with grpc-go (which ships
// gzip only) under the name GreptimeDB's gRPC server (tonic) accepts.
package grpczstd

import (
	"bytes"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
)

// Name is the grpc-encoding name of the compressor.
const Name = "zstd"

func init() { encoding.RegisterCompressor(compressor{}) }

// One encoder and one decoder serve every message: EncodeAll and DecodeAll
// are safe for concurrent use, so nothing stateful is pooled or shared
// between streams.
var (
	codecOnce sync.Once
	encoder   *zstd.Encoder
	decoder   *zstd.Decoder
	codecErr  error
)

func codecs() (*zstd.Encoder, *zstd.Decoder, error) {
	codecOnce.Do(func() {
		if encoder, codecErr = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1)); codecErr != nil {
			return
		}
		decoder, codecErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(1<<30))
	})
	return encoder, decoder, codecErr
}

type compressor struct{}

func (compressor) Name() string { return Name }

// Compress buffers the message and compresses it whole on Close.
func (compressor) Compress(w io.Writer) (io.WriteCloser, error) {
	enc, _, err := codecs()
	if err != nil {
		return nil, err
	}
	return &writer{w: w, enc: enc}, nil
}

type writer struct {
	w   io.Writer
	enc *zstd.Encoder
	buf []byte
}

func (w *writer) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *writer) Close() error {
	_, err := w.w.Write(w.enc.EncodeAll(w.buf, nil))
	w.buf = nil
	return err
}

// Decompress reads the whole compressed message and decodes it.
func (compressor) Decompress(r io.Reader) (io.Reader, error) {
	_, dec, err := codecs()
	if err != nil {
		return nil, err
	}
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	out, err := dec.DecodeAll(src, nil)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(out), nil
}
