package jsonrows

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// DecodeBase64 (SIMD) agrees with the standard library on every input:
// what it decodes, whether it fails and the error's wording.
func TestDecodeBase64MatchesStandardLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		raw := make([]byte, rng.IntN(7000))
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		text := []byte(base64.StdEncoding.EncodeToString(raw))
		switch i % 6 {
		case 1:
			text = bytes.TrimRight(text, "=") // unpadded
		case 2:
			if len(text) > 0 { // a bad character somewhere
				text[rng.IntN(len(text))] = "!$ -_.\x00\xff"[rng.IntN(8)]
			}
		case 3:
			if len(text) > 8 { // a line break (the standard decoder skips them)
				k := rng.IntN(len(text))
				text = append(text[:k:k], append([]byte("\r\n"), text[k:]...)...)
			}
		case 4:
			if len(text) > 4 { // truncated
				text = text[:len(text)-1-rng.IntN(3)]
			}
		}
		std := base64.StdEncoding
		if len(text)%4 != 0 {
			std = base64.RawStdEncoding
		}
		want := make([]byte, std.DecodedLen(len(text)))
		n, wantErr := std.Decode(want, text)
		got, err := DecodeBase64([]byte("p"), text)
		if wantErr != nil {
			require.EqualError(t, err, wantErr.Error(), "case %d", i)
			require.Equal(t, "p", string(got))
			continue
		}
		require.NoError(t, err, "case %d", i)
		require.Equal(t, append([]byte("p"), want[:n]...), got, "case %d", i)
	}
}
