package jsonrows

import (
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExportedParsers covers the parsers other sinks call directly.
func TestExportedParsers(t *testing.T) {
	i, err := ParseInt([]byte("9007199254740993"))
	require.NoError(t, err)
	assert.Equal(t, int64(9007199254740993), i, "no float detour")
	_, err = ParseInt([]byte("1.5"))
	assert.Error(t, err)

	for _, c := range []struct {
		raw      string
		from, to arrow.TimeUnit
		want     int64
		bad      bool
	}{
		{"1.5", arrow.Second, arrow.Millisecond, 1500, false},
		{"1.0005", arrow.Second, arrow.Millisecond, 0, true},
		{"1700000000123", arrow.Millisecond, arrow.Microsecond, 1700000000123000, false},
		{"-1", arrow.Nanosecond, arrow.Microsecond, -1, false},
		{"1999", arrow.Nanosecond, arrow.Microsecond, 1, false},
		{"1e30", arrow.Second, arrow.Nanosecond, 0, true},
	} {
		got, err := ParseEpoch([]byte(c.raw), c.from, c.to)
		if c.bad {
			assert.Error(t, err, c.raw)
			continue
		}
		require.NoError(t, err, c.raw)
		assert.Equal(t, c.want, got, c.raw)
	}

	ts, err := ParseTimestamp([]byte("2024-01-02T03:04:05.123456789+01:00"), arrow.Microsecond, false)
	require.NoError(t, err)
	assert.Equal(t, "2024-01-02T02:04:05.123456Z", string(AppendTimestampMicros(nil, ts)))
	days, err := ParseDate([]byte("2024-02-29"))
	require.NoError(t, err)
	assert.Equal(t, "2024-02-29", string(AppendDate(nil, days)))
	d, err := ParseDecimal([]byte("-12.30"), 2, 5)
	require.NoError(t, err)
	assert.Equal(t, "-12.30", d.ToString(2))

	prefix := []byte("x")
	out, err := DecodeBase64(prefix, []byte("aGk"))
	require.NoError(t, err)
	assert.Equal(t, "xhi", string(out), "appends, unpadded accepted")
	out, err = DecodeBase64(prefix, []byte("a$=="))
	require.Error(t, err)
	assert.Equal(t, "x", string(out), "dst unchanged on error")
}

func TestMalformedJSONNamesByteOffset(t *testing.T) {
	d, err := NewDecoder(eventSchema(), DecoderOptions{})
	require.NoError(t, err)
	_, err = d.Decode([]byte(`{"id": 1,, "name": "x"}`))
	require.True(t, errors.Is(err, ErrMalformedJSON))
	assert.ErrorContains(t, err, "invalid JSON at byte 9")
}
