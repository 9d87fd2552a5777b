// Package chtype parses ClickHouse column type strings (as DESCRIBE TABLE
// prints them on old and new servers) into a tree.
package chtype

import (
	"fmt"
	"strconv"
	"strings"
)

// EnumValue is one `'name' = number` pair of an Enum8/Enum16 type.
type EnumValue struct {
	Name  string
	Value int16
}

// Type is one parsed ClickHouse type.
type Type struct {
	// Name is the type family: "Int32", "Nullable", "Array", "Tuple",
	// "DateTime64", "Decimal" (Decimal32..256 normalised), and so on.
	Name string
	// Elems are the inner types of Nullable, LowCardinality, Array (one),
	// Map (key, value), Tuple and Nested (one per field).
	Elems []*Type
	// Fields are the element names of a named Tuple or Nested (same length
	// as Elems), nil for unnamed tuples.
	Fields []string
	// Precision and Scale of Decimal; Precision is also DateTime64's
	// sub-second digits.
	Precision, Scale int
	// Length of FixedString(N).
	Length int
	// TZ is the time zone argument of DateTime/DateTime64 ("" when none).
	TZ string
	// Enum lists the values of Enum8/Enum16.
	Enum []EnumValue
	// Raw is the type text as given (trimmed).
	Raw string
}

func (t *Type) String() string { return t.Raw }

// Nullable says whether the type accepts NULL at its top level, seeing
// through LowCardinality.
func (t *Type) Nullable() bool {
	if t.Name == "LowCardinality" {
		return t.Elems[0].Nullable()
	}
	return t.Name == "Nullable"
}

// Base strips Nullable and LowCardinality wrappers.
func (t *Type) Base() *Type {
	for t.Name == "Nullable" || t.Name == "LowCardinality" {
		t = t.Elems[0]
	}
	return t
}

// Parse parses a type string such as `LowCardinality(Nullable(String))`,
// `DateTime64(3, 'UTC')` or a multi-line `Array(Tuple(\n  a Int32,\n  b String))`.
func Parse(s string) (*Type, error) {
	p := &parser{s: s}
	t, err := p.typ()
	if err != nil {
		return nil, fmt.Errorf("parsing ClickHouse type %q: %w", s, err)
	}
	p.space()
	if p.i < len(p.s) {
		return nil, fmt.Errorf("parsing ClickHouse type %q: unexpected %q at offset %d", s, p.s[p.i:], p.i)
	}
	return t, nil
}

// aliases maps SQL-compatible names DESCRIBE may print to the family name.
var aliases = map[string]string{
	"Decimal32": "Decimal", "Decimal64": "Decimal", "Decimal128": "Decimal", "Decimal256": "Decimal",
	"Object": "JSON",
}

type parser struct {
	s string
	i int
}

func (p *parser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func isIdent(c byte) bool {
	return c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (p *parser) ident() (string, error) {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '`' {
		return p.quoted('`')
	}
	start := p.i
	for p.i < len(p.s) && isIdent(p.s[p.i]) {
		p.i++
	}
	if start == p.i {
		if p.i >= len(p.s) {
			return "", fmt.Errorf("unexpected end, expected a name")
		}
		return "", fmt.Errorf("unexpected %q at offset %d, expected a name", p.s[p.i], p.i)
	}
	return p.s[start:p.i], nil
}

// quoted reads a '...' or `...` literal with backslash escapes.
func (p *parser) quoted(q byte) (string, error) {
	start := p.i
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\\' && p.i+1 < len(p.s):
			p.i++
			switch e := p.s[p.i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '0':
				b.WriteByte(0)
			default:
				b.WriteByte(e)
			}
		case c == q:
			if p.i+1 < len(p.s) && p.s[p.i+1] == q { // doubled quote
				b.WriteByte(q)
				p.i++
			} else {
				p.i++
				return b.String(), nil
			}
		default:
			b.WriteByte(c)
		}
		p.i++
	}
	return "", fmt.Errorf("unterminated quoted literal at offset %d", start)
}

func (p *parser) expect(c byte) error {
	if p.peek() != c {
		if p.i >= len(p.s) {
			return fmt.Errorf("unexpected end, expected %q", c)
		}
		return fmt.Errorf("expected %q at offset %d, found %q", c, p.i, p.s[p.i])
	}
	p.i++
	return nil
}

// skipBalanced skips a parenthesised argument list whose contents we keep
// only as text (JSON(...) options, AggregateFunction(...)).
func (p *parser) skipBalanced() error {
	depth := 0
	for p.i < len(p.s) {
		switch c := p.s[p.i]; c {
		case '\'', '`':
			if _, err := p.quoted(c); err != nil {
				return err
			}
			continue
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				p.i++
				return nil
			}
		}
		p.i++
	}
	return fmt.Errorf("unbalanced parentheses")
}

func (p *parser) number() (int, error) {
	p.space()
	start := p.i
	if p.i < len(p.s) && (p.s[p.i] == '-' || p.s[p.i] == '+') {
		p.i++
	}
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	n, err := strconv.Atoi(p.s[start:p.i])
	if err != nil {
		return 0, fmt.Errorf("expected a number at offset %d", start)
	}
	return n, nil
}

func (p *parser) typ() (*Type, error) {
	p.space()
	start := p.i
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	t := &Type{Name: name}
	if a, ok := aliases[name]; ok {
		t.Name = a
	}
	if p.peek() == '(' {
		if err := p.args(t, name); err != nil {
			return nil, err
		}
	} else if err := p.bare(t, name); err != nil {
		return nil, err
	}
	t.Raw = strings.TrimSpace(p.s[start:p.i])
	return t, nil
}

// bare validates a type written without arguments.
func (p *parser) bare(t *Type, name string) error {
	switch name {
	case "Nullable", "LowCardinality", "Array", "Map", "Tuple", "Nested", "FixedString", "Enum8", "Enum16":
		return fmt.Errorf("%s needs arguments", name)
	case "Decimal":
		return fmt.Errorf("Decimal needs a precision")
	case "Decimal32":
		t.Precision = 9
	case "Decimal64":
		t.Precision = 18
	case "Decimal128":
		t.Precision = 38
	case "Decimal256":
		t.Precision = 76
	case "DateTime64":
		t.Precision = 3
	}
	if strings.HasPrefix(name, "Decimal") {
		return fmt.Errorf("%s needs a scale", name)
	}
	return nil
}

func (p *parser) args(t *Type, name string) error {
	switch name {
	case "Nullable", "LowCardinality", "Array":
		p.i++ // '('
		e, err := p.typ()
		if err != nil {
			return err
		}
		t.Elems = []*Type{e}
		return p.expect(')')
	case "Map":
		p.i++
		k, err := p.typ()
		if err != nil {
			return err
		}
		if err := p.expect(','); err != nil {
			return err
		}
		v, err := p.typ()
		if err != nil {
			return err
		}
		t.Elems = []*Type{k, v}
		return p.expect(')')
	case "Tuple", "Nested":
		return p.fields(t)
	case "FixedString":
		p.i++
		n, err := p.number()
		if err != nil {
			return err
		}
		t.Length = n
		return p.expect(')')
	case "Decimal":
		p.i++
		prec, err := p.number()
		if err != nil {
			return err
		}
		t.Precision = prec
		if p.peek() == ',' {
			p.i++
			if t.Scale, err = p.number(); err != nil {
				return err
			}
		}
		return p.expect(')')
	case "Decimal32", "Decimal64", "Decimal128", "Decimal256":
		p.i++
		s, err := p.number()
		if err != nil {
			return err
		}
		t.Scale = s
		t.Precision = map[string]int{"Decimal32": 9, "Decimal64": 18, "Decimal128": 38, "Decimal256": 76}[name]
		return p.expect(')')
	case "DateTime":
		p.i++
		return p.tzArg(t)
	case "DateTime64":
		p.i++
		prec, err := p.number()
		if err != nil {
			return err
		}
		t.Precision = prec
		if p.peek() == ',' {
			p.i++
			return p.tzArg(t)
		}
		return p.expect(')')
	case "Enum8", "Enum16":
		return p.enum(t)
	}
	// JSON(...), Object('json'), AggregateFunction(...), Variant(...) and
	// anything newer: keep the text, do not interpret it.
	return p.skipBalanced()
}

func (p *parser) tzArg(t *Type) error {
	if p.peek() != '\'' {
		return fmt.Errorf("expected a quoted time zone at offset %d", p.i)
	}
	tz, err := p.quoted('\'')
	if err != nil {
		return err
	}
	t.TZ = tz
	return p.expect(')')
}

func (p *parser) enum(t *Type) error {
	p.i++
	for {
		if p.peek() != '\'' {
			return fmt.Errorf("expected a quoted enum name at offset %d", p.i)
		}
		name, err := p.quoted('\'')
		if err != nil {
			return err
		}
		if err := p.expect('='); err != nil {
			return err
		}
		n, err := p.number()
		if err != nil {
			return err
		}
		if n < -32768 || n > 32767 || t.Name == "Enum8" && (n < -128 || n > 127) {
			return fmt.Errorf("enum value %d out of range for %s", n, t.Name)
		}
		t.Enum = append(t.Enum, EnumValue{Name: name, Value: int16(n)})
		switch p.peek() {
		case ',':
			p.i++
		case ')':
			p.i++
			return nil
		default:
			return fmt.Errorf("expected ',' or ')' in %s at offset %d", t.Name, p.i)
		}
	}
}

// fields parses Tuple/Nested elements, each either `Type` or `name Type`.
func (p *parser) fields(t *Type) error {
	p.i++
	named := false
	for {
		save := p.i
		p.space()
		var fieldName string
		// A field name is an identifier followed by whitespace and another
		// identifier (the type); a type is followed by '(' ',' or ')'.
		if id, err := p.ident(); err == nil {
			j := p.i
			p.space()
			if p.i > j && p.i < len(p.s) && (isIdent(p.s[p.i]) || p.s[p.i] == '`') {
				fieldName = id
			} else {
				p.i = save
			}
		} else {
			p.i = save
		}
		e, err := p.typ()
		if err != nil {
			return err
		}
		if fieldName != "" {
			named = true
		}
		t.Elems = append(t.Elems, e)
		t.Fields = append(t.Fields, fieldName)
		switch p.peek() {
		case ',':
			p.i++
		case ')':
			p.i++
			if !named {
				t.Fields = nil
			} else {
				for i, f := range t.Fields {
					if f == "" {
						return fmt.Errorf("%s mixes named and unnamed elements (element %d)", t.Name, i+1)
					}
				}
			}
			if t.Name == "Nested" && !named {
				return fmt.Errorf("Nested needs named elements")
			}
			return nil
		default:
			return fmt.Errorf("expected ',' or ')' in %s at offset %d", t.Name, p.i)
		}
	}
}
