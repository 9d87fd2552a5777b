package parquetfile

import (
	"io"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// zstdWindowSize bounds the zstd match window of page compression. Parquet
// data pages are at most about 1 MiB (arrow-go's default page size), so a
// larger window finds no further matches; arrow-go's own codec uses the
// library default (8 MiB), and allocates and clears that history again
// whenever its sync.Pool drops an encoder, which happens at every GC.
const zstdWindowSize = 1 << 20

// zstdPoolSize is how many idle encoders per level are kept. Pages are
// compressed by the goroutines that write files, a handful at most.
const zstdPoolSize = 8

// zstdPageCodec compresses Parquet pages with zstd encoders kept in a
// fixed free list (not a sync.Pool, which GC empties) and a 1 MiB window.
// Decoding and streaming are left to arrow-go's codec. Its output is
// ordinary zstd: every reader decodes it.
type zstdPageCodec struct {
	base  compress.Codec
	pools [5]chan *zstd.Encoder // by zstd.EncoderLevel (1-4); 0 unused
}

// errorCodec and streamingCodec are the optional interfaces of arrow-go's
// zstd codec that readers look for; zstdPageCodec forwards them.
type errorCodec interface {
	DecodeWithError(dst, src []byte) ([]byte, error)
}

func init() {
	base, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		return // arrow-go without zstd: keep whatever is registered
	}
	c := &zstdPageCodec{base: base}
	for i := range c.pools {
		c.pools[i] = make(chan *zstd.Encoder, zstdPoolSize)
	}
	compress.RegisterCodec(compress.Codecs.Zstd, c)
}

func (c *zstdPageCodec) level(level int) zstd.EncoderLevel {
	if level == compress.DefaultCompressionLevel {
		return zstd.SpeedDefault
	}
	return zstd.EncoderLevelFromZstd(level)
}

func (c *zstdPageCodec) Encode(dst, src []byte) []byte {
	return c.EncodeLevel(dst, src, compress.DefaultCompressionLevel)
}

func (c *zstdPageCodec) EncodeLevel(dst, src []byte, level int) []byte {
	lvl := c.level(level)
	var enc *zstd.Encoder
	select {
	case enc = <-c.pools[lvl]:
	default:
		var err error
		enc, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(lvl),
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(zstdWindowSize),
			zstd.WithZeroFrames(true),
			zstd.WithAllLitEntropyCompression(true))
		if err != nil {
			// Only invalid options fail; fall back to arrow-go's encoder.
			return c.base.EncodeLevel(dst, src, level)
		}
	}
	out := enc.EncodeAll(src, dst[:0])
	select {
	case c.pools[lvl] <- enc:
	default:
	}
	return out
}

func (c *zstdPageCodec) CompressBound(n int64) int64 { return c.base.CompressBound(n) }

func (c *zstdPageCodec) Decode(dst, src []byte) []byte { return c.base.Decode(dst, src) }

func (c *zstdPageCodec) DecodeWithError(dst, src []byte) ([]byte, error) {
	if ec, ok := c.base.(errorCodec); ok {
		return ec.DecodeWithError(dst, src)
	}
	return c.base.Decode(dst, src), nil
}

func (c *zstdPageCodec) NewReader(r io.Reader) io.ReadCloser {
	return c.base.(compress.StreamingCodec).NewReader(r)
}

func (c *zstdPageCodec) NewWriter(w io.Writer) io.WriteCloser {
	return c.base.(compress.StreamingCodec).NewWriter(w)
}

func (c *zstdPageCodec) NewWriterLevel(w io.Writer, level int) (io.WriteCloser, error) {
	return c.base.(compress.StreamingCodec).NewWriterLevel(w, level)
}
