// Package exactlyonce is the offset bookkeeping behind exactly-once delivery
// from Danube into Delta Lake. It has no Benthos and no Delta imports: it only
// knows topic-partitions, offsets and sets of closed offset ranges.
//
// Every Delta commit written by the delta_lake output records the exact set of
// (topic-partition, offset) pairs whose rows it contains (see Offsets and
// CommitInfoKey). A writer keeps the union of those sets, observed from its
// own commits and from every commit of other writers it reads (a Ledger), and
// drops a redelivered message whose offset is already in the union. Because
// exact sets are recorded rather than a high-water mark, a message that was
// nacked and is redelivered after newer offsets were committed, or one that
// failed inside an otherwise committed batch, is still written exactly once.
package exactlyonce

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Range is the closed interval of offsets [First, Last].
type Range struct {
	First uint64
	Last  uint64
}

// MarshalJSON encodes a range as the two-element array [first,last].
func (r Range) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("[%d,%d]", r.First, r.Last)), nil
}

// UnmarshalJSON decodes a range from [first,last] (or a single [offset]).
func (r *Range) UnmarshalJSON(data []byte) error {
	var pair []uint64
	if err := json.Unmarshal(data, &pair); err != nil {
		return fmt.Errorf("decoding offset range %s: %w", data, err)
	}
	switch len(pair) {
	case 1:
		r.First, r.Last = pair[0], pair[0]
	case 2:
		r.First, r.Last = pair[0], pair[1]
	default:
		return fmt.Errorf("decoding offset range %s: want [first,last]", data)
	}
	if r.First > r.Last {
		return fmt.Errorf("decoding offset range %s: first is after last", data)
	}
	return nil
}

// RangeSet is a set of offsets kept as sorted, disjoint and non-adjacent
// closed ranges, so contiguous offsets cost one range whatever their number.
// The zero value is an empty set. It is not safe for concurrent use.
type RangeSet struct {
	ranges []Range
}

// NewRangeSet returns a set holding the given offsets.
func NewRangeSet(offsets ...uint64) *RangeSet {
	s := &RangeSet{}
	for _, o := range offsets {
		s.Add(o)
	}
	return s
}

// search returns the index of the first range whose Last >= off.
func (s *RangeSet) search(off uint64) int {
	return sort.Search(len(s.ranges), func(i int) bool { return s.ranges[i].Last >= off })
}

// Contains reports whether off is in the set.
func (s *RangeSet) Contains(off uint64) bool {
	if s == nil {
		return false
	}
	i := s.search(off)
	return i < len(s.ranges) && s.ranges[i].First <= off
}

// Add inserts one offset.
func (s *RangeSet) Add(off uint64) {
	// Fast path: offsets mostly arrive in ascending order.
	if n := len(s.ranges); n > 0 {
		last := &s.ranges[n-1]
		if off >= last.First && off <= last.Last {
			return
		}
		if off > last.Last && last.Last != ^uint64(0) {
			if off == last.Last+1 {
				last.Last = off
			} else {
				s.ranges = append(s.ranges, Range{off, off})
			}
			return
		}
	}
	s.AddRange(Range{off, off})
}

// AddRange inserts every offset of r, merging with overlapping or adjacent
// ranges. A range with First > Last is ignored.
func (s *RangeSet) AddRange(r Range) {
	if r.First > r.Last {
		return
	}
	// lo: first range that overlaps or touches r from the left.
	lo := sort.Search(len(s.ranges), func(i int) bool {
		return s.ranges[i].Last == ^uint64(0) || s.ranges[i].Last+1 >= r.First
	})
	// hi: first range that starts strictly after r and does not touch it.
	hi := lo
	for hi < len(s.ranges) && (r.Last == ^uint64(0) || s.ranges[hi].First <= r.Last+1) {
		hi++
	}
	if lo < hi {
		if s.ranges[lo].First < r.First {
			r.First = s.ranges[lo].First
		}
		if s.ranges[hi-1].Last > r.Last {
			r.Last = s.ranges[hi-1].Last
		}
	}
	// Replace ranges[lo:hi] by r.
	switch {
	case hi-lo == 1:
		s.ranges[lo] = r
	case hi == lo:
		s.ranges = append(s.ranges, Range{})
		copy(s.ranges[lo+1:], s.ranges[lo:])
		s.ranges[lo] = r
	default:
		s.ranges[lo] = r
		s.ranges = append(s.ranges[:lo+1], s.ranges[hi:]...)
	}
}

// RemoveRange deletes every offset of r from the set.
func (s *RangeSet) RemoveRange(r Range) {
	if r.First > r.Last || len(s.ranges) == 0 {
		return
	}
	out := s.ranges[:0:0]
	for _, cur := range s.ranges {
		if cur.Last < r.First || cur.First > r.Last {
			out = append(out, cur)
			continue
		}
		if cur.First < r.First {
			out = append(out, Range{cur.First, r.First - 1})
		}
		if cur.Last > r.Last {
			out = append(out, Range{r.Last + 1, cur.Last})
		}
	}
	s.ranges = out
}

// Remove deletes one offset from the set.
func (s *RangeSet) Remove(off uint64) { s.RemoveRange(Range{off, off}) }

// Subtract deletes every offset of o from the set.
func (s *RangeSet) Subtract(o *RangeSet) {
	if o == nil {
		return
	}
	for _, r := range o.ranges {
		s.RemoveRange(r)
	}
}

// Intersect returns the offsets present in both s and o.
func (s *RangeSet) Intersect(o *RangeSet) *RangeSet {
	out := &RangeSet{}
	if s == nil || o == nil {
		return out
	}
	i, j := 0, 0
	for i < len(s.ranges) && j < len(o.ranges) {
		a, b := s.ranges[i], o.ranges[j]
		first, last := max(a.First, b.First), min(a.Last, b.Last)
		if first <= last {
			out.ranges = append(out.ranges, Range{first, last})
		}
		if a.Last < b.Last {
			i++
		} else {
			j++
		}
	}
	return out
}

// Union adds every offset of o.
func (s *RangeSet) Union(o *RangeSet) {
	if o == nil {
		return
	}
	for _, r := range o.ranges {
		s.AddRange(r)
	}
}

// Overlaps reports whether s and o share at least one offset.
func (s *RangeSet) Overlaps(o *RangeSet) bool {
	if s == nil || o == nil {
		return false
	}
	i, j := 0, 0
	for i < len(s.ranges) && j < len(o.ranges) {
		a, b := s.ranges[i], o.ranges[j]
		if a.Last < b.First {
			i++
		} else if b.Last < a.First {
			j++
		} else {
			return true
		}
	}
	return false
}

// Ranges returns a copy of the ranges in ascending order.
func (s *RangeSet) Ranges() []Range {
	if s == nil {
		return nil
	}
	return append([]Range(nil), s.ranges...)
}

// Len is the number of ranges (not offsets).
func (s *RangeSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.ranges)
}

// Count is the number of offsets in the set.
func (s *RangeSet) Count() uint64 {
	if s == nil {
		return 0
	}
	var n uint64
	for _, r := range s.ranges {
		n += r.Last - r.First + 1
	}
	return n
}

// Max returns the largest offset, false when the set is empty.
func (s *RangeSet) Max() (uint64, bool) {
	if s == nil || len(s.ranges) == 0 {
		return 0, false
	}
	return s.ranges[len(s.ranges)-1].Last, true
}

// Clone returns an independent copy.
func (s *RangeSet) Clone() *RangeSet {
	return &RangeSet{ranges: s.Ranges()}
}

// String renders the set as "[0-99 101 103-150]".
func (s *RangeSet) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range s.Ranges() {
		if i > 0 {
			b.WriteByte(' ')
		}
		if r.First == r.Last {
			fmt.Fprintf(&b, "%d", r.First)
		} else {
			fmt.Fprintf(&b, "%d-%d", r.First, r.Last)
		}
	}
	b.WriteByte(']')
	return b.String()
}

// MarshalJSON encodes the set as [[first,last],...].
func (s *RangeSet) MarshalJSON() ([]byte, error) {
	ranges := s.Ranges()
	if ranges == nil {
		ranges = []Range{}
	}
	return json.Marshal(ranges)
}

// UnmarshalJSON decodes [[first,last],...] in any order, merging overlaps.
func (s *RangeSet) UnmarshalJSON(data []byte) error {
	var ranges []Range
	if err := json.Unmarshal(data, &ranges); err != nil {
		return err
	}
	s.ranges = nil
	for _, r := range ranges {
		s.AddRange(r)
	}
	return nil
}

// errEmptyTopic is returned when an offset is recorded without its topic.
var errEmptyTopic = errors.New("empty topic-partition name")
