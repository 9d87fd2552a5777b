// Package grpczstd registers a zstd compressor with grpc-go (which ships
// gzip only) under the name GreptimeDB's gRPC server (tonic) accepts.
package grpczstd

import (
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
)

// Name is the grpc-encoding name of the compressor.
const Name = "zstd"

func init() { encoding.RegisterCompressor(&zstdCompressor{}) }

type zstdCompressor struct {
	encoders sync.Pool
	decoders sync.Pool
}

func (*zstdCompressor) Name() string { return Name }

type zstdWriter struct {
	*zstd.Encoder
	pool *sync.Pool
}

func (w *zstdWriter) Close() error {
	err := w.Encoder.Close()
	w.pool.Put(w)
	return err
}

func (z *zstdCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	if zw, ok := z.encoders.Get().(*zstdWriter); ok {
		zw.Reset(w)
		return zw, nil
	}
	enc, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	return &zstdWriter{Encoder: enc, pool: &z.encoders}, nil
}

type zstdReader struct {
	*zstd.Decoder
	pool     *sync.Pool
	returned bool // back in the pool: a second EOF must not put it twice
}

func (r *zstdReader) Read(p []byte) (int, error) {
	n, err := r.Decoder.Read(p)
	if err == io.EOF && !r.returned {
		r.returned = true
		r.pool.Put(r)
	}
	return n, err
}

func (z *zstdCompressor) Decompress(r io.Reader) (io.Reader, error) {
	if zr, ok := z.decoders.Get().(*zstdReader); ok {
		if err := zr.Reset(r); err == nil {
			zr.returned = false
			return zr, nil
		}
	}
	dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, err
	}
	return &zstdReader{Decoder: dec, pool: &z.decoders}, nil
}
