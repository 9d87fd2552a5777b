package parquetfile

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// StringStatsPrefix is the number of characters kept of string min/max
// values (Spark's spark.databricks.io.skipping.stringPrefixLength).
const StringStatsPrefix = 32

// DefaultStatsColumns is the number of leaf columns with statistics
// (Delta's dataSkippingNumIndexedCols default).
const DefaultStatsColumns = 32

// leafStats accumulates Delta statistics for one primitive leaf reachable
// through structs only.
type leafStats struct {
	colPath   []int // top-level column index, then struct child indexes
	typ       arrow.DataType
	nullCount int64
	has       bool // min/max seen
	minI      int64
	maxI      int64
	minF      float64
	maxF      float64
	minD      decimal128.Num
	maxD      decimal128.Num
	minS      []byte
	maxS      []byte
}

// statNode mirrors the struct nesting for the JSON output.
type statNode struct {
	name     string
	leaf     *leafStats
	children []*statNode
}

type statsCollector struct {
	numRecords int64
	leaves     []*leafStats
	root       []*statNode
	chain      []arrow.Array // scratch: struct arrays above the current leaf
}

func newStatsCollector(schema *arrow.Schema, maxLeaves int) *statsCollector {
	sc := &statsCollector{}
	budget := maxLeaves
	var walk func(f arrow.Field, path []int) *statNode
	walk = func(f arrow.Field, path []int) *statNode {
		switch t := f.Type.(type) {
		case *arrow.StructType:
			sn := &statNode{name: f.Name}
			for i, cf := range t.Fields() {
				if c := walk(cf, append(append([]int(nil), path...), i)); c != nil {
					sn.children = append(sn.children, c)
				}
			}
			if len(sn.children) == 0 {
				return nil
			}
			return sn
		case *arrow.ListType, *arrow.MapType, *arrow.LargeListType, *arrow.FixedSizeListType:
			return nil // repeated leaves get no stats, like delta-rs
		}
		if budget <= 0 {
			return nil
		}
		budget--
		ls := &leafStats{colPath: path, typ: f.Type}
		sc.leaves = append(sc.leaves, ls)
		return &statNode{name: f.Name, leaf: ls}
	}
	for i, f := range schema.Fields() {
		if sn := walk(f, []int{i}); sn != nil {
			sc.root = append(sc.root, sn)
		}
	}
	return sc
}

// add folds a record batch into the statistics.
func (sc *statsCollector) add(rec arrow.RecordBatch) {
	n := int(rec.NumRows())
	sc.numRecords += int64(n)
	for _, ls := range sc.leaves {
		sc.chain = sc.chain[:0]
		arr := rec.Column(ls.colPath[0])
		for _, idx := range ls.colPath[1:] {
			sc.chain = append(sc.chain, arr)
			arr = arr.(*array.Struct).Field(idx)
		}
		sc.addLeaf(ls, arr, n)
	}
}

// validAt reports whether row i of the leaf is non-null, counting nulls of
// enclosing structs.
func (sc *statsCollector) validAt(leaf arrow.Array, i int) bool {
	for _, a := range sc.chain {
		if a.IsNull(i) {
			return false
		}
	}
	return leaf.IsValid(i)
}

func (sc *statsCollector) anyNulls(leaf arrow.Array) bool {
	if leaf.NullN() > 0 {
		return true
	}
	for _, a := range sc.chain {
		if a.NullN() > 0 {
			return true
		}
	}
	return false
}

func (sc *statsCollector) addLeaf(ls *leafStats, arr arrow.Array, n int) {
	nulls := sc.anyNulls(arr)
	valid := func(i int) bool { return !nulls || sc.validAt(arr, i) }
	if nulls {
		for i := 0; i < n; i++ {
			if !sc.validAt(arr, i) {
				ls.nullCount++
			}
		}
	}
	switch a := arr.(type) {
	case *array.Int8:
		for i := 0; i < n; i++ {
			if valid(i) {
				ls.int(int64(a.Value(i)))
			}
		}
	case *array.Int16:
		for i := 0; i < n; i++ {
			if valid(i) {
				ls.int(int64(a.Value(i)))
			}
		}
	case *array.Int32:
		for i := 0; i < n; i++ {
			if valid(i) {
				ls.int(int64(a.Value(i)))
			}
		}
	case *array.Int64:
		for i := 0; i < n; i++ {
			if valid(i) {
				ls.int(a.Value(i))
			}
		}
	case *array.Date32:
		for i := 0; i < n; i++ {
			if valid(i) {
				ls.int(int64(a.Value(i)))
			}
		}
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		for i := 0; i < n; i++ {
			if valid(i) {
				ls.int(jsonrows.ToMicros(int64(a.Value(i)), unit))
			}
		}
	case *array.Float32:
		for i := 0; i < n; i++ {
			if valid(i) {
				ls.float(float64(a.Value(i)))
			}
		}
	case *array.Float64:
		for i := 0; i < n; i++ {
			if valid(i) {
				ls.float(a.Value(i))
			}
		}
	case *array.Decimal128:
		for i := 0; i < n; i++ {
			if valid(i) {
				ls.decimal(a.Value(i))
			}
		}
	case *array.String:
		for i := 0; i < n; i++ {
			if valid(i) {
				v := a.Value(i)
				ls.str(unsafe.Slice(unsafe.StringData(v), len(v)))
			}
		}
	}
	// Booleans and binary get null counts only.
}

func (ls *leafStats) int(v int64) {
	if !ls.has {
		ls.minI, ls.maxI, ls.has = v, v, true
		return
	}
	if v < ls.minI {
		ls.minI = v
	}
	if v > ls.maxI {
		ls.maxI = v
	}
}

func (ls *leafStats) float(v float64) {
	if math.IsNaN(v) {
		return
	}
	if !ls.has {
		ls.minF, ls.maxF, ls.has = v, v, true
		return
	}
	if v < ls.minF {
		ls.minF = v
	}
	if v > ls.maxF {
		ls.maxF = v
	}
}

func (ls *leafStats) decimal(v decimal128.Num) {
	if !ls.has {
		ls.minD, ls.maxD, ls.has = v, v, true
		return
	}
	if v.Less(ls.minD) {
		ls.minD = v
	}
	if v.Greater(ls.maxD) {
		ls.maxD = v
	}
}

func (ls *leafStats) str(v []byte) {
	if !ls.has {
		ls.minS = append(ls.minS[:0], v...)
		ls.maxS = append(ls.maxS[:0], v...)
		ls.has = true
		return
	}
	if bytes.Compare(v, ls.minS) < 0 {
		ls.minS = append(ls.minS[:0], v...)
	}
	if bytes.Compare(v, ls.maxS) > 0 {
		ls.maxS = append(ls.maxS[:0], v...)
	}
}

// truncateRunes cuts s to at most n characters.
func truncateRunes(s []byte, n int) ([]byte, bool) {
	i := 0
	for k := 0; k < n; k++ {
		if i >= len(s) {
			return s, false
		}
		_, size := utf8.DecodeRune(s[i:])
		i += size
	}
	return s[:i], i < len(s)
}

// stringUpperBound returns a value >= every string starting with the
// first StringStatsPrefix characters of s: the prefix with its last
// character incremented. It gives up (ok=false) when that character is at
// or near the surrogate range, where UTF-8 and UTF-16 orderings differ.
func stringUpperBound(s []byte) (bound []byte, ok bool) {
	prefix, truncated := truncateRunes(s, StringStatsPrefix)
	if !truncated {
		return s, true
	}
	r, size := utf8.DecodeLastRune(prefix)
	if r == utf8.RuneError || r+1 >= 0xD800 {
		return nil, false
	}
	out := append([]byte(nil), prefix[:len(prefix)-size]...)
	return utf8.AppendRune(out, r+1), true
}

// statsJSON renders the Delta add.stats value.
func (sc *statsCollector) statsJSON() string {
	buf := make([]byte, 0, 256)
	buf = append(buf, `{"numRecords":`...)
	buf = strconv.AppendInt(buf, sc.numRecords, 10)
	for _, section := range [...]string{"minValues", "maxValues", "nullCount"} {
		start := len(buf)
		buf = append(buf, `,"`...)
		buf = append(buf, section...)
		buf = append(buf, `":`...)
		var wrote bool
		buf, wrote = appendStatsObject(buf, sc.root, section)
		if !wrote {
			buf = buf[:start]
		}
	}
	buf = append(buf, '}')
	return string(buf)
}

func appendStatsObject(buf []byte, nodes []*statNode, section string) ([]byte, bool) {
	start := len(buf)
	buf = append(buf, '{')
	n := 0
	for _, sn := range nodes {
		mark := len(buf)
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, sn.name)
		buf = append(buf, ':')
		var ok bool
		if sn.leaf != nil {
			buf, ok = appendLeafValue(buf, sn.leaf, section)
		} else {
			buf, ok = appendStatsObject(buf, sn.children, section)
		}
		if !ok {
			buf = buf[:mark]
			continue
		}
		n++
	}
	if n == 0 {
		return buf[:start], false
	}
	return append(buf, '}'), true
}

func appendJSONString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(buf, b...)
}

func appendLeafValue(buf []byte, ls *leafStats, section string) ([]byte, bool) {
	if section == "nullCount" {
		return strconv.AppendInt(buf, ls.nullCount, 10), true
	}
	if !ls.has {
		return buf, false
	}
	isMin := section == "minValues"
	switch t := ls.typ.(type) {
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type:
		if isMin {
			return strconv.AppendInt(buf, ls.minI, 10), true
		}
		return strconv.AppendInt(buf, ls.maxI, 10), true
	case *arrow.Date32Type:
		v := ls.maxI
		if isMin {
			v = ls.minI
		}
		buf = append(buf, '"')
		buf = jsonrows.AppendDate(buf, v)
		return append(buf, '"'), true
	case *arrow.TimestampType:
		v := ls.maxI
		if isMin {
			v = ls.minI
		}
		buf = append(buf, '"')
		buf = jsonrows.AppendTimestampMillis(buf, v, t.TimeZone == "")
		return append(buf, '"'), true
	case *arrow.Float32Type, *arrow.Float64Type:
		v := ls.maxF
		if isMin {
			v = ls.minF
		}
		if math.IsInf(v, 0) {
			return buf, false // not representable in JSON
		}
		bits := 64
		if t.ID() == arrow.FLOAT32 {
			bits = 32
		}
		return strconv.AppendFloat(buf, v, 'g', -1, bits), true
	case *arrow.Decimal128Type:
		v := ls.maxD
		if isMin {
			v = ls.minD
		}
		return append(buf, v.ToString(t.Scale)...), true
	case *arrow.StringType:
		if isMin {
			p, _ := truncateRunes(ls.minS, StringStatsPrefix)
			return appendJSONString(buf, string(p)), true
		}
		ub, ok := stringUpperBound(ls.maxS)
		if !ok {
			return buf, false
		}
		return appendJSONString(buf, string(ub)), true
	}
	return buf, false
}
