package chsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/danube-connect/danube-connect/plugins/clickhouse/chtype"
)

// Column is one insertable column of a table.
type Column struct {
	Name        string
	Type        *chtype.Type
	DefaultKind string // "", DEFAULT, MATERIALIZED, ALIAS, EPHEMERAL
}

// Schema is what the sink knows of a table.
type Schema struct {
	Database, Table string
	// Columns are the insertable columns in table order; MATERIALIZED and
	// ALIAS columns are left out (the server computes them).
	Columns []Column
	// Unwritable maps a column whose type this sink cannot write to its
	// type; such columns are left out of the INSERT (server default).
	Unwritable map[string]string
	byName     map[string]int
	// nested maps the parent name of flattened Nested columns (`n` for
	// `n.a`, `n.b`) to those columns.
	nested  map[string][]nestedSub
	fetched time.Time
}

type nestedSub struct {
	col   int
	field string
}

// QuoteIdent quotes a ClickHouse identifier with backquotes.
func QuoteIdent(s string) string {
	return "`" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "`", "\\`") + "`"
}

// QualifiedName is `db`.`table` (or `table` without a database).
func QualifiedName(db, table string) string {
	if db == "" {
		return QuoteIdent(table)
	}
	return QuoteIdent(db) + "." + QuoteIdent(table)
}

// describeRow is one row of DESCRIBE TABLE, read positionally: old servers
// print five columns, new ones seven; the first four mean the same.
type describeRow struct {
	name, typ, defaultKind string
}

func newSchema(db, table string, rows []describeRow) (*Schema, error) {
	s := &Schema{Database: db, Table: table, byName: map[string]int{}, nested: map[string][]nestedSub{}, fetched: time.Now()}
	for _, r := range rows {
		switch strings.ToUpper(r.defaultKind) {
		case "MATERIALIZED", "ALIAS":
			continue
		}
		t, err := chtype.Parse(r.typ)
		if err != nil {
			return nil, fmt.Errorf("table %s column %q: %w", QualifiedName(db, table), r.name, err)
		}
		if _, err := valueConvFor(t, &ConvOptions{}); err != nil && errors.Is(err, errUnsupported) {
			if s.Unwritable == nil {
				s.Unwritable = map[string]string{}
			}
			s.Unwritable[r.name] = r.typ
			continue
		}
		s.byName[r.name] = len(s.Columns)
		s.Columns = append(s.Columns, Column{Name: r.name, Type: t, DefaultKind: strings.ToUpper(r.defaultKind)})
	}
	if len(s.Columns) == 0 {
		return nil, fmt.Errorf("table %s has no columns this output can write", QualifiedName(db, table))
	}
	// Flattened Nested columns: `n.a Array(T)` whose parent `n` is not a column.
	for i, c := range s.Columns {
		parent, field, ok := strings.Cut(c.Name, ".")
		if !ok || c.Type.Base().Name != "Array" {
			continue
		}
		if _, isCol := s.byName[parent]; isCol {
			continue
		}
		s.nested[parent] = append(s.nested[parent], nestedSub{col: i, field: field})
	}
	return s, nil
}

// errTableMissing marks DESCRIBE of a table (or database) that does not exist.
var errTableMissing = errors.New("table does not exist")

// describe reads a table's columns with DESCRIBE TABLE.
func describe(ctx context.Context, conn driver.Conn, db, table string) (*Schema, error) {
	rows, err := conn.Query(ctx, "DESCRIBE TABLE "+QualifiedName(db, table))
	if err != nil {
		if code := ServerCode(err); code == codeUnknownTable || code == codeUnknownDatabase {
			return nil, fmt.Errorf("%w: %s: %v", errTableMissing, QualifiedName(db, table), err)
		}
		return nil, fmt.Errorf("describing %s: %w", QualifiedName(db, table), err)
	}
	defer rows.Close()
	n := len(rows.Columns())
	if n < 3 {
		return nil, fmt.Errorf("describing %s: expected at least 3 columns, server returned %d", QualifiedName(db, table), n)
	}
	dest := make([]any, n)
	vals := make([]string, n)
	for i := range dest {
		dest[i] = &vals[i]
	}
	var out []describeRow
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("describing %s: %w", QualifiedName(db, table), err)
		}
		out = append(out, describeRow{name: vals[0], typ: vals[1], defaultKind: vals[2]})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("describing %s: %w", QualifiedName(db, table), err)
	}
	return newSchema(db, table, out)
}

// schemaCache holds one schema per table, re-read after maxAge or when
// invalidated.
type schemaCache struct {
	mu     sync.Mutex
	maxAge time.Duration
	tables map[string]*Schema
}

func newSchemaCache(maxAge time.Duration) *schemaCache {
	return &schemaCache{maxAge: maxAge, tables: map[string]*Schema{}}
}

func cacheKey(db, table string) string { return db + "\x00" + table }

func (c *schemaCache) get(db, table string) *Schema {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.tables[cacheKey(db, table)]
	if s != nil && c.maxAge > 0 && time.Since(s.fetched) > c.maxAge {
		return nil
	}
	return s
}

func (c *schemaCache) put(s *Schema) {
	c.mu.Lock()
	c.tables[cacheKey(s.Database, s.Table)] = s
	c.mu.Unlock()
}

// invalidate drops the cached schema if it is still s (a concurrent
// refresh may already have replaced it).
func (c *schemaCache) invalidate(s *Schema) {
	c.mu.Lock()
	if c.tables[cacheKey(s.Database, s.Table)] == s {
		delete(c.tables, cacheKey(s.Database, s.Table))
	}
	c.mu.Unlock()
}
