// Package chsink writes JSON rows into ClickHouse tables over the native
// protocol: per-table schema discovery, JSON → column conversion straight
// into native blocks, classified retries that resend the identical block,
// version-gated async inserts and deduplication tokens, optional table
// creation. It has no Benthos imports; plugins/clickhouse wraps it.
package chsink

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/valyala/fastjson"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// DedupMode says how `insert_deduplication_token` is derived.
type DedupMode uint8

const (
	DedupNone DedupMode = iota
	// DedupContent hashes the table name and the payloads of the block.
	DedupContent
	// DedupOffsets names the Danube topic and offset range of the block
	// (falling back to DedupContent when a message has no offset).
	DedupOffsets
)

// ParseDedupMode maps the `deduplication_token` option.
func ParseDedupMode(s string) (DedupMode, error) {
	switch s {
	case "", "none":
		return DedupNone, nil
	case "content":
		return DedupContent, nil
	case "danube_offsets":
		return DedupOffsets, nil
	}
	return 0, fmt.Errorf("unknown deduplication_token %q (want none, content or danube_offsets)", s)
}

// Compression maps the `compression` option to the driver's method.
func Compression(method string, level int) (*clickhouse.Compression, error) {
	var m clickhouse.CompressionMethod
	switch method {
	case "", "lz4":
		m = clickhouse.CompressionLZ4
	case "lz4hc":
		m = clickhouse.CompressionLZ4HC
	case "zstd":
		m = clickhouse.CompressionZSTD
	case "none":
		return &clickhouse.Compression{Method: clickhouse.CompressionNone}, nil
	default:
		return nil, fmt.Errorf("unknown compression %q (want lz4, lz4hc, zstd or none)", method)
	}
	return &clickhouse.Compression{Method: m, Level: level}, nil
}

// Retry is the backoff of transient failures.
type Retry struct {
	// MaxRetries after the first attempt; then the messages fail (and
	// Benthos delivers them again). Negative: retry until shut down.
	MaxRetries int
	Initial    time.Duration
	Max        time.Duration
}

// backoff is the wait before retry number n (0-based): exponential with
// full jitter in [d/2, d].
func (r Retry) backoff(n int) time.Duration {
	d := r.Initial
	for i := 0; i < n && d < r.Max; i++ {
		d *= 2
	}
	if d > r.Max {
		d = r.Max
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// CreateTable is the DDL used when a target table does not exist.
type CreateTable struct {
	Engine      string // e.g. MergeTree
	OrderBy     string // expression, e.g. "(host, ts)" or "tuple()"
	PartitionBy string // optional expression
}

// Options configure a Sink.
type Options struct {
	Addr             []string
	Username         string
	Password         string
	TLS              *tls.Config
	Compression      *clickhouse.Compression
	DialTimeout      time.Duration
	WriteTimeout     time.Duration
	MaxOpenConns     int
	Format           jsonrows.Format
	Conv             ConvOptions
	UnknownFields    UnknownFields
	CatchAllColumn   string
	AsyncInsert      bool
	WaitAsyncInsert  bool
	Dedup            DedupMode
	Retry            Retry
	SchemaMaxAge     time.Duration
	CreateTable      *CreateTable
	SchemaRetryDelay time.Duration // minimum schema age before an unknown field triggers a re-read
}

// Metrics receives the sink's counters; every call names the table
// (`db.table`).
type Metrics interface {
	Inserted(table string, rows, bytes int, latency time.Duration)
	// Retried is called before each retry with the error being retried.
	Retried(table string, code int32, err error)
	Failed(table string, code int32, messages int)
}

type nopMetrics struct{}

func (nopMetrics) Inserted(string, int, int, time.Duration) {}
func (nopMetrics) Retried(string, int32, error)             {}
func (nopMetrics) Failed(string, int32, int)                {}

// Message is one message of a batch.
type Message struct {
	Payload []byte
	// Topic and Offset identify the message in Danube (HasOffset false
	// when unknown); used by DedupOffsets.
	Topic     string
	Offset    uint64
	HasOffset bool
	// Overrides, when not nil, gives column values for row i (0-based)
	// of the message that replace the JSON fields of the same name.
	Overrides func(i int, row []byte) (map[string]any, error)
}

// Group is the messages of a batch bound for one table.
type Group struct {
	Database, Table string
	Indexes         []int // into the batch
}

// Sink writes groups of messages into ClickHouse.
type Sink struct {
	conn    driver.Conn
	opts    Options
	version driver.ServerVersion
	cache   *schemaCache
	metrics Metrics
	parsers fastjson.ParserPool
	bopts   blockOptions
}

// serverSupports reports whether the server is at least major.minor.
func serverSupports(v driver.ServerVersion, major, minor uint64) bool {
	return v.Version.Major > major || v.Version.Major == major && v.Version.Minor >= minor
}

// Server versions that introduced the settings the options send
// (ClickHouse changelogs: async inserts 21.11, insert_deduplication_token
// 22.2, PR #32304).
var (
	minAsyncInsert = [2]uint64{21, 11}
	minDedupToken  = [2]uint64{22, 2}
)

// checkFeatures fails for options the server's version cannot honour.
func checkFeatures(o *Options, v driver.ServerVersion) error {
	var need []string
	if o.AsyncInsert && !serverSupports(v, minAsyncInsert[0], minAsyncInsert[1]) {
		need = append(need, fmt.Sprintf("async_insert needs ClickHouse %d.%d or newer", minAsyncInsert[0], minAsyncInsert[1]))
	}
	if o.Dedup != DedupNone && !serverSupports(v, minDedupToken[0], minDedupToken[1]) {
		need = append(need, fmt.Sprintf("deduplication_token needs ClickHouse %d.%d or newer", minDedupToken[0], minDedupToken[1]))
	}
	if len(need) == 0 {
		return nil
	}
	return fmt.Errorf("%s, but the server reports version %d.%d.%d (revision %d)",
		strings.Join(need, " and "), v.Version.Major, v.Version.Minor, v.Version.Patch, v.Revision)
}

// Open connects, checks that the server answers and supports the options.
func Open(ctx context.Context, o Options, m Metrics) (*Sink, error) {
	if len(o.Addr) == 0 {
		return nil, errors.New("no addr given")
	}
	if m == nil {
		m = nopMetrics{}
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:             o.Addr,
		Auth:             clickhouse.Auth{Username: o.Username, Password: o.Password},
		TLS:              o.TLS,
		Compression:      o.Compression,
		DialTimeout:      o.DialTimeout,
		ReadTimeout:      o.WriteTimeout,
		MaxOpenConns:     o.MaxOpenConns,
		MaxIdleConns:     o.MaxOpenConns,
		ConnOpenStrategy: clickhouse.ConnOpenRoundRobin,
		// A block's buffers are not kept per idle connection: memory stays
		// proportional to the blocks in flight, not to the pool size.
		FreeBufOnConnRelease: true,
	})
	if err != nil {
		return nil, fmt.Errorf("opening %v: %w", o.Addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, o.DialTimeout+o.WriteTimeout)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ClickHouse at %v is not reachable: %w", o.Addr, err)
	}
	v, err := conn.ServerVersion()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("reading the server version of %v: %w", o.Addr, err)
	}
	if err := checkFeatures(&o, *v); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ClickHouse at %v: %w", o.Addr, err)
	}
	return newSink(conn, o, *v, m), nil
}

func newSink(conn driver.Conn, o Options, v driver.ServerVersion, m Metrics) *Sink {
	if o.Conv.Location == nil {
		o.Conv.Location = v.Timezone
	}
	if o.SchemaRetryDelay == 0 {
		o.SchemaRetryDelay = time.Second
	}
	return &Sink{conn: conn, opts: o, version: v, cache: newSchemaCache(o.SchemaMaxAge), metrics: m,
		bopts: blockOptions{conv: o.Conv, unknown: o.UnknownFields, catchAll: o.CatchAllColumn}}
}

// ServerVersion is the connected server's version.
func (s *Sink) ServerVersion() driver.ServerVersion { return s.version }

// Close closes the connection pool.
func (s *Sink) Close() error { return s.conn.Close() }

// Write inserts every group (concurrently, one native block each) and
// returns one error per message (nil when written).
func (s *Sink) Write(ctx context.Context, msgs []Message, groups []Group) []error {
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.writeGroup(ctx, msgs, g, errs)
		}()
	}
	wg.Wait()
	return errs
}

// TableError is an insert failure of a whole group.
type TableError struct {
	Table string
	Code  int32
	Err   error
}

func (e *TableError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("inserting into %s failed (server code %d): %v", e.Table, e.Code, e.Err)
	}
	return fmt.Sprintf("inserting into %s failed: %v", e.Table, e.Err)
}

func (e *TableError) Unwrap() error { return e.Err }

func (s *Sink) writeGroup(ctx context.Context, msgs []Message, g Group, errs []error) {
	table := g.Database + "." + g.Table
	qn := QualifiedName(g.Database, g.Table)
	failAll := func(err error) {
		s.fail(table, qn, g.Indexes, err, errs)
	}
	refreshed := false
	for {
		sch, err := s.schema(ctx, table, msgs, g)
		if err != nil {
			failAll(err)
			return
		}
		blk, ok, convErrs, err := s.convert(sch, msgs, g.Indexes)
		if err != nil {
			failAll(err)
			return
		}
		// A field with no column may be one added since we read the schema,
		// a value that does not fit its column one whose type changed.
		stale := blk.unknown || len(ok) < len(g.Indexes)
		if stale && !refreshed && time.Since(sch.fetched) >= s.opts.SchemaRetryDelay {
			s.cache.invalidate(sch)
			refreshed = true
			continue
		}
		var sendErr error
		if blk.rows > 0 {
			sendErr = s.send(ctx, table, qn, msgs, ok, blk)
			// The table changed under the cached schema (a column added,
			// dropped or retyped, the table recreated): read it again and
			// rebuild the block from the same messages, once.
			if sendErr != nil && Classify(sendErr) == ClassSchema && !refreshed {
				s.cache.invalidate(sch)
				refreshed = true
				continue
			}
		}
		// The block is settled: only now are the messages left out of it
		// failed (a rebuilt block may have taken them).
		s.convFailed(table, qn, g.Indexes, convErrs, errs)
		if sendErr == nil {
			return
		}
		if isolatable(sendErr) && len(ok) > 1 {
			budget := isolateBudget(len(ok))
			s.isolate(ctx, table, qn, sch, msgs, ok, sendErr, &budget, errs)
			return
		}
		s.fail(table, qn, ok, sendErr, errs)
		return
	}
}

// fail sets err, naming the table and the server's code, on messages idx.
func (s *Sink) fail(table, qn string, idx []int, err error, errs []error) {
	code := ServerCode(err)
	te := &TableError{Table: qn, Code: code, Err: err}
	for _, i := range idx {
		errs[i] = te
	}
	s.metrics.Failed(table, code, len(idx))
}

// convFailed records the conversion errors (parallel to idx) of messages
// left out of a block.
func (s *Sink) convFailed(table, qn string, idx []int, convErrs []error, errs []error) {
	n := 0
	for j, i := range idx {
		if convErrs[j] != nil {
			errs[i] = fmt.Errorf("table %s: %w", qn, convErrs[j])
			n++
		}
	}
	if n > 0 {
		s.metrics.Failed(table, 0, n)
	}
}

// send inserts the block made of msgs[ok...], retrying transient errors.
func (s *Sink) send(ctx context.Context, table, qn string, msgs []Message, ok []int, blk *block) error {
	cols := blk.sendColumns()
	// Settings (and the dedup token) derive from exactly these messages,
	// so a sub-block of a split never carries the whole block's token.
	set := s.settingsFor(qn, msgs, ok)
	bytes := 0
	for _, i := range ok {
		bytes += len(msgs[i].Payload)
	}
	start := time.Now()
	if err := s.sendRetrying(ctx, table, blk, cols, set); err != nil {
		return err
	}
	s.metrics.Inserted(table, blk.rows, bytes, time.Since(start))
	return nil
}

// isolateBudget bounds the sub-blocks sent to isolate the rejected
// messages of a block of n: enough to find 8 of them by halving.
func isolateBudget(n int) int { return 16 * bits.Len(uint(n)) }

// isolate splits a block the server rejected for its data into halves at
// message boundaries and sends each again, recursively, so only the
// messages the server still rejects on their own fail, each with the
// server's error. Once the budget is spent a failing half fails whole.
func (s *Sink) isolate(ctx context.Context, table, qn string, sch *Schema, msgs []Message, idx []int, cause error, budget *int, errs []error) {
	mid := len(idx) / 2
	for _, half := range [][]int{idx[:mid], idx[mid:]} {
		if *budget <= 0 || ctx.Err() != nil {
			s.fail(table, qn, half, cause, errs)
			continue
		}
		*budget--
		blk, ok, convErrs, err := s.convert(sch, msgs, half)
		if err != nil {
			s.fail(table, qn, half, err, errs)
			continue
		}
		s.convFailed(table, qn, half, convErrs, errs)
		if blk.rows == 0 {
			continue
		}
		err = s.send(ctx, table, qn, msgs, ok, blk)
		switch {
		case err == nil:
		case isolatable(err) && len(ok) > 1:
			s.isolate(ctx, table, qn, sch, msgs, ok, err, budget, errs)
		default:
			s.fail(table, qn, ok, err, errs)
		}
	}
}

// retrying runs fn until it succeeds, fails for good, or retries run out.
func (s *Sink) retrying(ctx context.Context, table string, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || Classify(err) != ClassRetry || ctx.Err() != nil {
			return err
		}
		if s.opts.Retry.MaxRetries >= 0 && attempt >= s.opts.Retry.MaxRetries {
			return fmt.Errorf("giving up after %d retries: %w", attempt, err)
		}
		s.metrics.Retried(table, ServerCode(err), err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(s.opts.Retry.backoff(attempt)):
		}
	}
}

// schema returns the cached schema of the group's table, reading it (and
// creating the table, when configured) if needed.
func (s *Sink) schema(ctx context.Context, table string, msgs []Message, g Group) (*Schema, error) {
	if sch := s.cache.get(g.Database, g.Table); sch != nil {
		return sch, nil
	}
	var sch *Schema
	err := s.retrying(ctx, table, func() error {
		var err error
		sch, err = describe(s.opCtx(ctx), s.conn, g.Database, g.Table)
		if errors.Is(err, errTableMissing) && s.opts.CreateTable != nil {
			if err = s.createTable(ctx, msgs, g); err == nil {
				sch, err = describe(s.opCtx(ctx), s.conn, g.Database, g.Table)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cache.put(sch)
	return sch, nil
}

func (s *Sink) opCtx(ctx context.Context) context.Context {
	// The caller's ctx bounds the whole write; each server round trip is
	// bounded by write_timeout through the driver's read deadline.
	return ctx
}

// convert decodes messages msgs[idx...] into a block. ok lists the batch
// indexes of the messages in the block; convErrs is parallel to idx.
func (s *Sink) convert(sch *Schema, msgs []Message, idx []int) (*block, []int, []error, error) {
	blk, err := newBlock(sch, &s.bopts)
	if err != nil {
		return nil, nil, nil, err
	}
	p := s.parsers.Get()
	defer s.parsers.Put(p)
	var ovArena fastjson.Arena
	convErrs := make([]error, len(idx))
	ok := make([]int, 0, len(idx))
	for j, i := range idx {
		m := &msgs[i]
		mark := blk.mark()
		_, err := jsonrows.Each(s.opts.Format, m.Payload, func(r int, row []byte) error {
			var ov map[string]*fastjson.Value
			if m.Overrides != nil {
				vals, err := m.Overrides(r, row)
				if err != nil {
					return fmt.Errorf("columns mapping: %w", err)
				}
				ovArena.Reset()
				ov = make(map[string]*fastjson.Value, len(vals))
				for k, x := range vals {
					fv, err := goToJSON(&ovArena, x)
					if err != nil {
						return fmt.Errorf("columns mapping %q: %w", k, err)
					}
					ov[k] = fv
				}
			}
			v, err := p.ParseBytes(row)
			if err != nil {
				return fmt.Errorf("invalid JSON: %w", err)
			}
			return blk.addRow(v, ov)
		})
		if err != nil {
			blk.rollback(mark)
			convErrs[j] = err
			continue
		}
		ok = append(ok, i)
	}
	return blk, ok, convErrs, nil
}

// insertSettings are the per-INSERT settings sent with a block.
type insertSettings struct {
	Async, Wait bool
	Token       string
}

func (st insertSettings) context(ctx context.Context) context.Context {
	var opts []clickhouse.QueryOption
	if st.Async {
		opts = append(opts, clickhouse.WithAsync(st.Wait))
	}
	if st.Token != "" {
		opts = append(opts, clickhouse.WithSettings(clickhouse.Settings{"insert_deduplication_token": st.Token}))
	}
	if len(opts) == 0 {
		return ctx
	}
	return clickhouse.Context(ctx, opts...)
}

// settingsFor derives the settings of a block made of msgs[ok...].
func (s *Sink) settingsFor(qn string, msgs []Message, ok []int) insertSettings {
	st := insertSettings{Async: s.opts.AsyncInsert, Wait: s.opts.AsyncInsert && s.opts.WaitAsyncInsert}
	switch s.opts.Dedup {
	case DedupOffsets:
		if t, good := offsetToken(qn, msgs, ok); good {
			st.Token = t
			break
		}
		st.Token = contentToken(qn, msgs, ok)
	case DedupContent:
		st.Token = contentToken(qn, msgs, ok)
	}
	return st
}

// contentToken is a hash of the table and the payloads, in order.
func contentToken(qn string, msgs []Message, ok []int) string {
	h := sha256.New()
	var n [8]byte
	h.Write([]byte(qn))
	for _, i := range ok {
		binary.BigEndian.PutUint64(n[:], uint64(len(msgs[i].Payload)))
		h.Write(n[:])
		h.Write(msgs[i].Payload)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// offsetToken names the Danube offsets of the block; false when a message
// has none or the block spans topics.
func offsetToken(qn string, msgs []Message, ok []int) (string, bool) {
	if len(ok) == 0 {
		return "", false
	}
	topic := msgs[ok[0]].Topic
	lo, hi := uint64(1<<64-1), uint64(0)
	for _, i := range ok {
		m := &msgs[i]
		if !m.HasOffset || m.Topic != topic {
			return "", false
		}
		lo, hi = min(lo, m.Offset), max(hi, m.Offset)
	}
	return "danube:" + topic + ":" + strconv.FormatUint(lo, 10) + "-" + strconv.FormatUint(hi, 10) + ":" + strconv.Itoa(len(ok)) + ":" + qn, true
}

// sendRetrying sends the block, rebuilding the identical native block for
// every attempt.
func (s *Sink) sendRetrying(ctx context.Context, table string, blk *block, cols []int, set insertSettings) error {
	query := blk.insertQuery(cols)
	return s.retrying(ctx, table, func() error { return s.sendOnce(ctx, query, blk, cols, set) })
}

// errFill marks a driver refusal of our buffered values: the column's type
// on the server is not the cached one (changed since we read it), or a
// value the driver validates itself.
var errFill = errors.New("building the native block")

// errDriverPanic marks a panic of the driver (it cannot handle a column
// type of the server's header); splitting the block cannot help.
var errDriverPanic = errors.New("the ClickHouse driver panicked")

func (s *Sink) sendOnce(ctx context.Context, query string, blk *block, cols []int, set insertSettings) (err error) {
	// The driver panics on some column types it cannot parse from the
	// server's header (an Enum name with an escaped quote, say): fail the
	// block, not the process.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errDriverPanic, r)
		}
	}()
	ictx := set.context(ctx)
	if s.opts.WriteTimeout > 0 {
		var cancel context.CancelFunc
		ictx, cancel = context.WithTimeout(ictx, s.opts.WriteTimeout)
		defer cancel()
	}
	batch, err := s.conn.PrepareBatch(ictx, query)
	if err != nil {
		return err
	}
	if err := blk.fill(batch, cols); err != nil {
		_ = batch.Abort()
		return fmt.Errorf("%w: %w", errFill, err)
	}
	return batch.Send()
}
