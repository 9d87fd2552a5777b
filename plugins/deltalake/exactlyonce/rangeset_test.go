package exactlyonce

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkCanonical fails when the ranges are unsorted, overlapping, adjacent or inverted.
func checkCanonical(t *testing.T, s *RangeSet) {
	t.Helper()
	for i, r := range s.ranges {
		require.LessOrEqual(t, r.First, r.Last, "range %d inverted in %v", i, s)
		if i > 0 {
			prev := s.ranges[i-1]
			require.Greater(t, r.First, prev.Last+1, "ranges %d and %d overlap or touch in %v", i-1, i, s)
		}
	}
}

// modelOffsets lists the members of a map model in ascending order.
func modelOffsets(m map[uint64]bool) []uint64 {
	out := make([]uint64, 0, len(m))
	for o := range m {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func setOffsets(s *RangeSet) []uint64 {
	out := []uint64{}
	for _, r := range s.ranges {
		for o := r.First; ; o++ {
			out = append(out, o)
			if o == r.Last {
				break
			}
		}
	}
	return out
}

func TestRangeSetAddMerges(t *testing.T) {
	tests := []struct {
		name string
		add  []Range
		want []Range
	}{
		{"empty", nil, nil},
		{"single", []Range{{5, 5}}, []Range{{5, 5}}},
		{"ascending contiguous", []Range{{0, 0}, {1, 1}, {2, 2}}, []Range{{0, 2}}},
		{"gap kept", []Range{{0, 0}, {2, 2}}, []Range{{0, 0}, {2, 2}}},
		{"fill gap joins", []Range{{0, 0}, {2, 2}, {1, 1}}, []Range{{0, 2}}},
		{"descending", []Range{{9, 9}, {8, 8}, {7, 7}}, []Range{{7, 9}}},
		{"insert before", []Range{{10, 20}, {0, 5}}, []Range{{0, 5}, {10, 20}}},
		{"swallow many", []Range{{0, 1}, {3, 4}, {6, 7}, {9, 9}, {2, 8}}, []Range{{0, 9}}},
		{"overlap left", []Range{{5, 10}, {3, 6}}, []Range{{3, 10}}},
		{"overlap right", []Range{{5, 10}, {8, 12}}, []Range{{5, 12}}},
		{"inside", []Range{{5, 10}, {6, 7}}, []Range{{5, 10}}},
		{"adjacent right", []Range{{5, 10}, {11, 12}}, []Range{{5, 12}}},
		{"adjacent left", []Range{{5, 10}, {1, 4}}, []Range{{1, 10}}},
		{"inverted ignored", []Range{{5, 4}}, nil},
		{"max offset", []Range{{math.MaxUint64 - 1, math.MaxUint64}, {math.MaxUint64 - 3, math.MaxUint64 - 2}}, []Range{{math.MaxUint64 - 3, math.MaxUint64}}},
		{"zero and max", []Range{{0, 0}, {math.MaxUint64, math.MaxUint64}}, []Range{{0, 0}, {math.MaxUint64, math.MaxUint64}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &RangeSet{}
			for _, r := range tt.add {
				s.AddRange(r)
				checkCanonical(t, s)
			}
			assert.Equal(t, tt.want, s.Ranges())
		})
	}
}

func TestRangeSetAddFastPathAtMax(t *testing.T) {
	s := NewRangeSet(math.MaxUint64, math.MaxUint64-1, 0)
	checkCanonical(t, s)
	assert.Equal(t, []Range{{0, 0}, {math.MaxUint64 - 1, math.MaxUint64}}, s.Ranges())
	s.Add(math.MaxUint64)
	assert.Equal(t, uint64(3), s.Count())
}

// TestRangeSetModel drives random operations against a map model.
func TestRangeSetModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 300; round++ {
		s, o := &RangeSet{}, &RangeSet{}
		ms, mo := map[uint64]bool{}, map[uint64]bool{}
		const space = 64
		for step := 0; step < 60; step++ {
			a := uint64(rng.IntN(space))
			b := a + uint64(rng.IntN(6))
			switch rng.IntN(6) {
			case 0:
				s.Add(a)
				ms[a] = true
			case 1:
				s.AddRange(Range{a, b})
				for x := a; x <= b; x++ {
					ms[x] = true
				}
			case 2:
				s.RemoveRange(Range{a, b})
				for x := a; x <= b; x++ {
					delete(ms, x)
				}
			case 3:
				o.AddRange(Range{a, b})
				for x := a; x <= b; x++ {
					mo[x] = true
				}
			case 4:
				s.Remove(a)
				delete(ms, a)
			case 5:
				o.Remove(a)
				delete(mo, a)
			}
			checkCanonical(t, s)
			checkCanonical(t, o)
			require.Equal(t, modelOffsets(ms), setOffsets(s))
			require.Equal(t, uint64(len(ms)), s.Count())
			for x := uint64(0); x < space+8; x++ {
				require.Equal(t, ms[x], s.Contains(x), "offset %d in %v", x, s)
			}

			inter := s.Intersect(o)
			checkCanonical(t, inter)
			mi := map[uint64]bool{}
			for x := range ms {
				if mo[x] {
					mi[x] = true
				}
			}
			require.Equal(t, modelOffsets(mi), setOffsets(inter))
			require.Equal(t, len(mi) > 0, s.Overlaps(o))
			require.Equal(t, len(mi) > 0, o.Overlaps(s))
			if max, ok := s.Max(); ok {
				all := modelOffsets(ms)
				require.Equal(t, all[len(all)-1], max)
			} else {
				require.Empty(t, ms)
			}
		}
		u := s.Clone()
		u.Union(o)
		checkCanonical(t, u)
		mu := map[uint64]bool{}
		for x := range ms {
			mu[x] = true
		}
		for x := range mo {
			mu[x] = true
		}
		require.Equal(t, modelOffsets(mu), setOffsets(u))
		d := u.Clone()
		d.Subtract(o)
		for x := range mo {
			require.False(t, d.Contains(x))
		}
	}
}

func TestRangeSetJSON(t *testing.T) {
	s := NewRangeSet(0, 1, 2, 3, 5, 9, 10)
	data, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Equal(t, `[[0,3],[5,5],[9,10]]`, string(data))
	assert.Equal(t, "[0-3 5 9-10]", s.String())

	var back RangeSet
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, s.Ranges(), back.Ranges())

	// Unordered and overlapping input is normalised; [x] means one offset.
	require.NoError(t, json.Unmarshal([]byte(`[[9,10],[0,2],[2,3],[5]]`), &back))
	assert.Equal(t, s.Ranges(), back.Ranges())

	empty, err := json.Marshal(&RangeSet{})
	require.NoError(t, err)
	assert.Equal(t, `[]`, string(empty))

	for _, bad := range []string{`[[3,2]]`, `[[1,2,3]]`, `[[]]`, `[["a",1]]`, `{"a":1}`, `[[-1,2]]`} {
		assert.Error(t, json.Unmarshal([]byte(bad), &back), bad)
	}
}

func TestRangeSetNilSafe(t *testing.T) {
	var s *RangeSet
	assert.False(t, s.Contains(1))
	assert.Zero(t, s.Len())
	assert.Zero(t, s.Count())
	_, ok := s.Max()
	assert.False(t, ok)
	assert.False(t, s.Overlaps(NewRangeSet(1)))
	assert.Zero(t, s.Intersect(NewRangeSet(1)).Len())
}

func BenchmarkRangeSetAddAscending(b *testing.B) {
	s := &RangeSet{}
	for i := 0; i < b.N; i++ {
		s.Add(uint64(i))
	}
}

func BenchmarkRangeSetContains(b *testing.B) {
	s := &RangeSet{}
	for i := uint64(0); i < 100_000; i += 2 {
		s.Add(i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Contains(uint64(i % 100_000))
	}
}
