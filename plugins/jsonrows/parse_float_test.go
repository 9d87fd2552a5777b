package jsonrows

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// The fast path must agree with strconv bit for bit (or decline) on every
// number, at both sizes: random decimals of every shape, the shortest forms
// of random float32 and float64, and float64 neighbours of float32
// midpoints, where rounding twice would go wrong.
func TestParseFloatFastMatchesStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(s string) {
		t.Helper()
		for _, bits := range []int{32, 64} {
			want, werr := strconv.ParseFloat(s, bits)
			got, n, ok := parseFloatFast([]byte(s), bits)
			if ok && (n != len(s) || werr != nil || math.Float64bits(got) != math.Float64bits(want)) {
				t.Fatalf("parseFloatFast(%q, %d) = %v, strconv = %v (%v)", s, bits, got, want, werr)
			}
			pf, perr := ParseFloat([]byte(s), bits)
			if (perr == nil) != (werr == nil) || (perr == nil && math.Float64bits(pf) != math.Float64bits(want)) {
				t.Fatalf("ParseFloat(%q, %d) = %v, %v; strconv = %v, %v", s, bits, pf, perr, want, werr)
			}
			pp, pn, pperr := ParseFloatPrefix([]byte(s+",1"), bits)
			if pn != len(s) || (pperr == nil) != (werr == nil) || (pperr == nil && math.Float64bits(pp) != math.Float64bits(want)) {
				t.Fatalf("ParseFloatPrefix(%q, %d) = %v, %d, %v; strconv = %v, %v", s+",1", bits, pp, pn, pperr, want, werr)
			}
		}
	}
	for _, s := range []string{"0", "-0", "0.0", "-0.0", "1", "-1", "0.1", "1e22", "1e23", "9007199254740993",
		"9007199254740992", "123456789012345678901", "1e-22", "1E+2", "0.000001", "3.4028235e38", "3.4028236e38",
		"1.17549435e-38", "1e-45", "1e-46", "4.9e-324", "1.7976931348623157e308"} {
		check(s)
	}
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		if b[0] == '0' && n > 1 {
			b[0] = '1'
		}
		return string(b)
	}
	for range 100_000 {
		s := digits(1 + r.IntN(12))
		if r.IntN(2) == 0 {
			s += "." + digits(1+r.IntN(12))
		}
		if r.IntN(3) == 0 {
			s += "e" + strconv.Itoa(r.IntN(80)-40)
		}
		if r.IntN(2) == 0 {
			s = "-" + s
		}
		check(s)
		f32 := math.Float32frombits(r.Uint32())
		if !math.IsNaN(float64(f32)) && !math.IsInf(float64(f32), 0) {
			check(strconv.FormatFloat(float64(f32), 'g', -1, 32))
			check(strconv.FormatFloat(float64(f32), 'g', -1, 64))
		}
		f64 := r.NormFloat64() * math.Pow(10, float64(r.IntN(20)-10))
		check(strconv.FormatFloat(f64, 'g', -1, 64))
		// Float64s at and just beside the midpoint of two float32 neighbours.
		mid := math.Float64frombits(math.Float64bits(float64(float32(f64))) | 1<<28)
		for d := -6; d <= 6; d++ {
			near := math.Float64frombits(uint64(int64(math.Float64bits(mid)) + int64(d)))
			for _, p := range []int{15, 16, 17, 18, 19} {
				check(strconv.FormatFloat(near, 'g', p, 64))
				check(strconv.FormatFloat(near, 'e', p, 64))
			}
		}
	}
}

// Syntax errors stay errors through the fast path, whole or as a prefix.
func TestParseFloatRejects(t *testing.T) {
	for _, s := range []string{"", "-", "01", "-01", "1.", ".5", "1e", "1e+", "+1", "1.2.3", "1e5e", "1e123456", "NaN", "Infinity", "0x10", "1_0"} {
		if _, err := ParseFloat([]byte(s), 32); err == nil {
			t.Errorf("ParseFloat(%q) accepted", s)
		}
		if _, n, err := ParseFloatPrefix([]byte(s+"]"), 64); err == nil && n == len(s) && s != "" {
			t.Errorf("ParseFloatPrefix(%q) accepted the whole token", s+"]")
		}
	}
}

func BenchmarkParseFloat32(b *testing.B) {
	nums := [][]byte{[]byte("0.9414709568023682"), []byte("-0.0123457"), []byte("0.5"), []byte("-1.2345678e-3")}
	b.Run("jsonrows", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := ParseFloat(nums[i&3], 32); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("strconv", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := strconv.ParseFloat(string(nums[i&3]), 32); err != nil {
				b.Fatal(err)
			}
		}
	})
}
