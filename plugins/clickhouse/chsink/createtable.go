package chsink

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// inferRows is how many rows of the first batch shape a created table.
const inferRows = 1000

// createTable creates the group's table from the fields of its first rows.
func (s *Sink) createTable(ctx context.Context, msgs []Message, g Group) error {
	var p fastjson.Parser
	cols := newInference(serverSupports(s.version, 21, 12), serverSupports(s.version, 20, 1))
	seen := 0
	for _, i := range g.Indexes {
		_, _ = jsonrows.Each(s.opts.Format, msgs[i].Payload, func(_ int, row []byte) error {
			if seen >= inferRows {
				return nil
			}
			v, err := p.ParseBytes(row)
			if err != nil {
				return err
			}
			if obj, err := v.Object(); err == nil {
				seen++
				obj.Visit(func(k []byte, v *fastjson.Value) { cols.observe(string(k), v) })
			}
			return nil
		})
	}
	if len(cols.order) == 0 {
		return fmt.Errorf("%w; create_table found no JSON object fields to infer its columns from", errTableMissing)
	}
	ddl := cols.ddl(QualifiedName(g.Database, g.Table), s.opts.CreateTable)
	if err := s.conn.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("create_table: %s: %w", ddl, err)
	}
	return nil
}

type inference struct {
	modern  bool // Bool and DateTime64 exist (21.12+)
	hasDT64 bool
	order   []string
	types   map[string]string
	nulls   map[string]bool
}

func newInference(modern, dt64 bool) *inference {
	return &inference{modern: modern, hasDT64: dt64, types: map[string]string{}, nulls: map[string]bool{}}
}

func (c *inference) observe(name string, v *fastjson.Value) {
	if _, ok := c.types[name]; !ok {
		c.order = append(c.order, name)
		c.types[name] = ""
	}
	if v.Type() == fastjson.TypeNull {
		c.nulls[name] = true
		return
	}
	if c.types[name] == "" {
		c.types[name] = c.infer(v)
	}
}

func (c *inference) infer(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if len(b) >= 19 && b[4] == '-' && b[10] == 'T' {
			if _, err := time.Parse(time.RFC3339Nano, string(b)); err == nil {
				if c.hasDT64 {
					return "DateTime64(3)"
				}
				return "DateTime"
			}
		}
		return "String"
	case fastjson.TypeNumber:
		if _, err := v.Int64(); err == nil {
			return "Int64"
		}
		return "Float64"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		if c.modern {
			return "Bool"
		}
		return "UInt8"
	case fastjson.TypeArray:
		arr, _ := v.Array()
		for _, e := range arr {
			if e.Type() != fastjson.TypeNull && e.Type() != fastjson.TypeArray {
				return "Array(" + c.infer(e) + ")"
			}
		}
		return "Array(String)"
	}
	return "String" // objects are kept as their JSON text
}

// ddl renders CREATE TABLE. Columns named in ORDER BY / PARTITION BY are
// not Nullable (sorting keys cannot be); all others are, so later rows may
// omit them.
func (c *inference) ddl(qn string, ct *CreateTable) string {
	keys := ct.OrderBy + " " + ct.PartitionBy
	var sb strings.Builder
	fmt.Fprintf(&sb, "CREATE TABLE IF NOT EXISTS %s (", qn)
	for i, name := range c.order {
		t := c.types[name]
		if t == "" {
			t = "String"
		}
		if !strings.HasPrefix(t, "Array(") && !mentions(keys, name) {
			t = "Nullable(" + t + ")"
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(QuoteIdent(name) + " " + t)
	}
	engine := ct.Engine
	if engine == "" {
		engine = "MergeTree"
	}
	if !strings.Contains(engine, "(") {
		engine += "()"
	}
	fmt.Fprintf(&sb, ") ENGINE = %s", engine)
	if ct.PartitionBy != "" {
		fmt.Fprintf(&sb, " PARTITION BY %s", ct.PartitionBy)
	}
	orderBy := ct.OrderBy
	if orderBy == "" {
		orderBy = "tuple()"
	}
	fmt.Fprintf(&sb, " ORDER BY %s", orderBy)
	return sb.String()
}

// mentions reports whether expr uses the identifier name.
func mentions(expr, name string) bool {
	for i := 0; ; {
		j := strings.Index(expr[i:], name)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isIdentByte(expr[j-1])
		after := j+len(name) >= len(expr) || !isIdentByte(expr[j+len(name)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
