// Package mapping turns JSON rows into GreptimeDB row inserts: which value is
// the time index, which are tags and which are fields, with what column type,
// grouped per table into greptime-proto RowInsertRequests. It has no Benthos
// or network dependency.
package mapping

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	gpb "github.com/GreptimeTeam/greptime-proto/go/greptime/v1"
	"github.com/GreptimeTeam/greptimedb-ingester-go/util"
)

// Kind selects how a row is read.
type Kind uint8

const (
	// KindColumns reads the configured timestamp, tags and fields (all other
	// top-level keys when no fields are listed).
	KindColumns Kind = iota
	// KindMetrics reads Prometheus-style metric events
	// {"name", "labels", "value", "timestamp"}: one table per metric, labels
	// as tags, the value as greptime_value.
	KindMetrics
	// KindLogs reads log lines: a JSON object is read like KindColumns with an
	// optional timestamp, any other line becomes the `message` field.
	KindLogs
)

// KindNames are the config names of the kinds, by value.
var KindNames = []string{"columns", "metrics", "logs"}

// ParseKind reads a kind name.
func ParseKind(s string) (Kind, error) {
	for i, n := range KindNames {
		if n == s {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown mapping %q (want %s)", s, strings.Join(KindNames, ", "))
}

// Type is a column type a value is written as. TypeInfer picks one from the
// JSON value: int64 for integer numbers, float64 for other numbers, bool,
// string, and the JSON text of objects and arrays as string.
type Type uint8

const (
	TypeInfer Type = iota
	TypeInt64
	TypeUint64
	TypeFloat64
	TypeBool
	TypeString
	TypeBinary
	TypeJSON
)

// TypeNames are the config names of the types, by value.
var TypeNames = []string{"", "int64", "uint64", "float64", "bool", "string", "binary", "json"}

// ParseType reads a type name ("" means inferred).
func ParseType(s string) (Type, error) {
	for i, n := range TypeNames {
		if n == s {
			return Type(i), nil
		}
	}
	return 0, fmt.Errorf("unknown column type %q (want %s)", s, strings.Join(TypeNames[1:], ", "))
}

func (t Type) String() string {
	if t == TypeInfer {
		return "inferred"
	}
	if int(t) < len(TypeNames) {
		return TypeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

func (t Type) datatype() gpb.ColumnDataType {
	switch t {
	case TypeInt64:
		return gpb.ColumnDataType_INT64
	case TypeUint64:
		return gpb.ColumnDataType_UINT64
	case TypeFloat64:
		return gpb.ColumnDataType_FLOAT64
	case TypeBool:
		return gpb.ColumnDataType_BOOLEAN
	case TypeBinary:
		return gpb.ColumnDataType_BINARY
	case TypeJSON:
		return gpb.ColumnDataType_JSON
	}
	return gpb.ColumnDataType_STRING
}

// Precision is the unit of the time index column.
type Precision uint8

const (
	Millisecond Precision = iota
	Microsecond
	Nanosecond
)

// PrecisionNames are the config names of the precisions, by value.
var PrecisionNames = []string{"ms", "us", "ns"}

// ParsePrecision reads a precision name.
func ParsePrecision(s string) (Precision, error) {
	for i, n := range PrecisionNames {
		if n == s {
			return Precision(i), nil
		}
	}
	return 0, fmt.Errorf("unknown timestamp precision %q (want ms, us or ns)", s)
}

func (p Precision) datatype() gpb.ColumnDataType {
	switch p {
	case Microsecond:
		return gpb.ColumnDataType_TIMESTAMP_MICROSECOND
	case Nanosecond:
		return gpb.ColumnDataType_TIMESTAMP_NANOSECOND
	}
	return gpb.ColumnDataType_TIMESTAMP_MILLISECOND
}

func (p Precision) from(t time.Time) int64 {
	switch p {
	case Microsecond:
		return t.UnixMicro()
	case Nanosecond:
		return t.UnixNano()
	}
	return t.UnixMilli()
}

// UnitNames are the accepted units of numeric timestamps.
var UnitNames = []string{"s", "ms", "us", "ns"}

// ParseUnit reads the unit of numeric timestamps.
func ParseUnit(s string) (time.Duration, error) {
	switch s {
	case "s":
		return time.Second, nil
	case "ms":
		return time.Millisecond, nil
	case "us":
		return time.Microsecond, nil
	case "ns":
		return time.Nanosecond, nil
	}
	return 0, fmt.Errorf("unknown timestamp unit %q (want s, ms, us or ns)", s)
}

// Timestamp says where the time index comes from.
type Timestamp struct {
	// Path is the dotted path of the value; empty means the default time
	// (the message's publish time, else the current time).
	Path string
	// Column names the time index column.
	Column string
	// Unit of numeric values (and numeric strings).
	Unit time.Duration
	// Layout parses string values (Go time layout); empty means RFC 3339
	// (also with 't' or ' ' between date and time).
	Layout string
	// Precision of the column.
	Precision Precision
	// Optional falls back to the default time when the path is absent or
	// null instead of failing the row.
	Optional bool
}

// Column is a configured tag or field.
type Column struct {
	Path string // dotted path in the row
	Name string // column name; default: the path with dots as underscores, in snake_case
	Type Type
}

// Config is a whole mapping.
type Config struct {
	Kind      Kind
	Timestamp Timestamp
	Tags      []Column
	// Fields lists the field columns; empty means every top-level key that
	// is neither a tag nor the timestamp (KindColumns, KindLogs).
	Fields []Column
}

// Default column names of the metrics mapping, as GreptimeDB's own
// Prometheus remote write names them.
const (
	MetricTimestampColumn = "greptime_timestamp"
	MetricValueColumn     = "greptime_value"
	LogMessageColumn      = "message"
)

type column struct {
	path []string
	name string
	typ  Type
	sem  gpb.SemanticType
}

// Mapper reads rows according to a Config. It is safe for concurrent use;
// each batch is built by one goroutine.
type Mapper struct {
	kind   Kind
	ts     Timestamp
	tsPath []string
	tsName string
	tags   []column
	fields []column
	// skip holds the top-level keys that are not inferred fields.
	skip map[string]bool

	nmu   sync.RWMutex
	names map[string]string // raw name -> sanitized name (bounded)

	pmu    sync.Mutex
	pinned map[string]map[string]gpb.ColumnDataType // table -> column -> type written before
}

// New validates cfg and returns its Mapper.
func New(cfg Config) (*Mapper, error) {
	m := &Mapper{names: map[string]string{}, kind: cfg.Kind, ts: cfg.Timestamp, skip: map[string]bool{}, pinned: map[string]map[string]gpb.ColumnDataType{}}
	if m.ts.Unit == 0 {
		m.ts.Unit = time.Millisecond
	}
	col := cfg.Timestamp.Column
	if col == "" {
		col = "ts"
		if cfg.Kind == KindMetrics {
			col = MetricTimestampColumn
		}
	}
	var err error
	if m.tsName, err = util.SanitateName(col); err != nil {
		return nil, fmt.Errorf("timestamp column: %w", err)
	}
	if p := cfg.Timestamp.Path; p != "" {
		m.tsPath = splitPath(p)
		m.skip[m.tsPath[0]] = true
	} else if cfg.Kind != KindColumns {
		m.skip[defaultTimestampPath[0]] = true
	}
	seen := map[string]string{m.tsName: "the timestamp"}
	build := func(cs []Column, sem gpb.SemanticType, what string) ([]column, error) {
		var out []column
		for i, c := range cs {
			if c.Path == "" {
				return nil, fmt.Errorf("%s[%d]: path is empty", what, i)
			}
			name := c.Name
			if name == "" {
				name = strings.ReplaceAll(c.Path, ".", "_")
			}
			n, err := util.SanitateName(name)
			if err != nil {
				return nil, fmt.Errorf("%s[%d] (%s): %w", what, i, c.Path, err)
			}
			if prev, dup := seen[n]; dup {
				return nil, fmt.Errorf("%s[%d] (%s): column %q is also %s", what, i, c.Path, n, prev)
			}
			seen[n] = fmt.Sprintf("%s[%d]", what, i)
			p := splitPath(c.Path)
			m.skip[p[0]] = true
			out = append(out, column{path: p, name: n, typ: c.Type, sem: sem})
		}
		return out, nil
	}
	if m.tags, err = build(cfg.Tags, gpb.SemanticType_TAG, "tags"); err != nil {
		return nil, err
	}
	if m.fields, err = build(cfg.Fields, gpb.SemanticType_FIELD, "fields"); err != nil {
		return nil, err
	}
	if cfg.Kind == KindMetrics && (len(cfg.Tags) > 0 || len(cfg.Fields) > 0) {
		return nil, errors.New("the metrics mapping takes its tags from labels and its field from value: tags and fields must be empty")
	}
	return m, nil
}

// Kind reports the mapping kind.
func (m *Mapper) Kind() Kind { return m.kind }

func splitPath(p string) []string { return strings.Split(p, ".") }

// maxCachedNames bounds the sanitized-name cache against hostile key sets.
const maxCachedNames = 1 << 14

// Sanitize converts a table or column name the way the GreptimeDB ingester
// does (trimmed, snake_case, lower case, shorter than 100 bytes).
func (m *Mapper) Sanitize(raw []byte) (string, error) {
	m.nmu.RLock()
	v, ok := m.names[string(raw)]
	m.nmu.RUnlock()
	if ok {
		return v, nil
	}
	s, err := util.SanitateName(string(raw))
	if err != nil {
		return "", err
	}
	m.nmu.Lock()
	if len(m.names) < maxCachedNames {
		m.names[string(raw)] = s
	}
	m.nmu.Unlock()
	return s, nil
}

// Pin records the column types of tables that the server accepted, so that
// later batches write compatible values (an integer into a float column).
func (m *Mapper) Pin(tables []*Table) {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	for _, t := range tables {
		p := m.pinned[t.Name]
		if p == nil {
			p = map[string]gpb.ColumnDataType{}
			m.pinned[t.Name] = p
		}
		for _, c := range t.schema {
			p[c.ColumnName] = c.Datatype
		}
	}
}

func (m *Mapper) pinnedTypes(table string) map[string]gpb.ColumnDataType {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	src := m.pinned[table]
	if len(src) == 0 {
		return nil
	}
	out := make(map[string]gpb.ColumnDataType, len(src))
	for k, v := range src {
		out[k] = v
	}
	return out
}
