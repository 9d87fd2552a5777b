package lancerows

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// The fast path must accept a row only when the general path accepts it,
// with the same values; otherwise it declines and the general path decides.
func TestFastVectorAgreesWithGeneralPath(t *testing.T) {
	rows := []string{
		`{"id":"a","embedding":[1,2,3]}`,
		`{ "embedding" : [ -0.5 , 1e-3 ,3E+2 ] , "id" : "a" }`,
		`{"embeddingx":[9,9,9],"embedding":[1,2,3],"id":"a"}`,
		`{"text":"a \"quoted\" [1,2] {x}","embedding":[1,2,3],"id":"a"}`,
		`{"meta":{"embedding":[7,7,7]},"embedding":[1,2,3],"id":"a"}`,
		`{"emb\u0065dding":[1,2,3],"id":"a"}`,
		`{"embedding":[1,2],"id":"a"}`,
		`{"embedding":[1,2,3,4],"id":"a"}`,
		`{"embedding":[1,2,],"id":"a"}`,
		`{"embedding":[1,"2",3],"id":"a"}`,
		`{"embedding":[1,NaN,3],"id":"a"}`,
		`{"embedding":[1,Infinity,3],"id":"a"}`,
		`{"embedding":[1,1e39,3],"id":"a"}`,
		`{"embedding":[1,null,3],"id":"a"}`,
		`{"embedding":[1,[2],3],"id":"a"}`,
		`{"embedding":[],"id":"a"}`,
		`{"embedding":"[1,2,3]","id":"a"}`,
		`{"embedding":[3.4028235e38,-1.4e-45,-0],"id":"a"}`,
		`{"id":"a"}`,
		`{"id":"a","embedding":[1,2,3]`,
		`[1,2,3]`,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		parts := make([]string, 3)
		for j := range parts {
			parts[j] = strconv.FormatFloat(float64(float32(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(20)-10)))), 'g', -1, 32)
		}
		rows = append(rows, fmt.Sprintf(`{"id":"r%d","embedding":[%s]}`, i, strings.Join(parts, ",")))
	}
	l := testLayout(t, vectorOnly(3, EncodingJSON))
	fastHits := 0
	for _, row := range rows {
		b := NewBuilder(l, jsonrows.FormatJSON, nil)
		var slow []float32
		var slowErr error
		if v, err := b.parser.Parse(row); err != nil {
			slowErr = err
		} else if slowErr = b.parseVector(v.Get("embedding")); slowErr == nil {
			slow = append(slow, b.vecs...)
		}
		b.vecs = b.vecs[:0]
		fast := false
		if start, ok := locate([]byte(row), []string{"embedding"}); ok {
			_, fast = b.fastVector([]byte(row), start)
		}
		if fast {
			fastHits++
			// The rest of the row is checked by the general parser.
			full := NewBuilder(l, jsonrows.FormatJSON, nil)
			_, appendErr := full.Append([]byte(row))
			full.Release()
			if appendErr == nil {
				require.NoError(t, slowErr, "fast path accepted %s", row)
				assert.Equal(t, slow, b.vecs, row)
			} else {
				assert.Error(t, slowErr, "%s: fast path with rest check: %v", row, appendErr)
			}
		} else {
			assert.Empty(t, b.vecs, "declined fast path left values: %s", row)
		}
		b.Release()
	}
	assert.Greater(t, fastHits, 200)
}

func TestLocate(t *testing.T) {
	row := []byte(`{"a":{"b":[1],"c":{"d":"x"}},"e":"{\"a\":1}","f":[{"a":2}], "g" : 3 }`)
	for path, want := range map[string]string{"a.b": "[1]", "a.c.d": `"x"`, "e": `"{\"a\":1}"`, "f": `[{"a":2}]`, "g": "3", "a.c": `{"d":"x"}`} {
		s, ok := locate(row, strings.Split(path, "."))
		require.True(t, ok, path)
		assert.Equal(t, want, string(row[s:valueEnd(row, s)]), path)
	}
	for _, path := range []string{"x", "a.x", "e.a", "g.h"} {
		_, ok := locate(row, strings.Split(path, "."))
		assert.False(t, ok, path)
	}
}
