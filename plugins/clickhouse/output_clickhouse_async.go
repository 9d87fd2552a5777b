package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/bloblang"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/clickhouse/chsink"
	"github.com/danube-connect/danube-connect/plugins/sinkspec"
)

const (
	choFieldAddr             = "addr"
	choFieldDatabase         = "database"
	choFieldTable            = "table"
	choFieldUsername         = "username"
	choFieldPassword         = "password"
	choFieldTLS              = "tls"
	choFieldCompression      = "compression"
	choFieldCompressionLevel = "compression_level"
	choFieldDialTimeout      = "dial_timeout"
	choFieldWriteTimeout     = "write_timeout"
	choFieldMaxOpenConns     = "max_open_conns"
	choFieldUnknownFields    = "unknown_fields"
	choFieldCatchAllColumn   = "catch_all_column"
	choFieldMissingFields    = "missing_fields"
	choFieldEpochUnit        = "epoch_unit"
	choFieldColumns          = "columns"
	choFieldAsyncInsert      = "async_insert"
	choFieldWaitAsyncInsert  = "wait_for_async_insert"
	choFieldDedupToken       = "deduplication_token"
	choFieldSchemaRefresh    = "schema_refresh_interval"
	choFieldRetry            = "retry"
	choFieldRetryMax         = "max_retries"
	choFieldRetryInitial     = "initial_interval"
	choFieldRetryMaxInterval = "max_interval"
	choFieldCreateTable      = "create_table"
	choFieldCreateEnabled    = "enabled"
	choFieldCreateEngine     = "engine"
	choFieldCreateOrderBy    = "order_by"
	choFieldCreatePartition  = "partition_by"
	choFieldBatching         = "batching"

	// Metadata the danube input sets; used for deduplication_token: danube_offsets.
	metaDanubeTopic  = "danube_topic"
	metaDanubeOffset = "danube_offset"
)

func clickhouseAsyncOutputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Inserts JSON rows into ClickHouse tables over the native protocol, mapping fields to the tables' real column types.").
		Description(`
Each batch is grouped by `+"`database`"+` and `+"`table`"+` (both interpolated per message) and every group is sent
as one native block with `+"`INSERT INTO db.table (columns...)`"+`; groups and up to `+"`max_in_flight`"+` batches are
in flight at once over a pool of `+"`max_open_conns`"+` connections. Every INSERT makes a part on the server, so batch generously
(thousands of rows per block, e.g. `+"`batching: { count: 10000, period: 1s }`"+`) or carry many rows per message with
`+"`payload_format`"+`.

== Schema mapping

The output reads each table's columns with `+"`DESCRIBE TABLE`"+` (MATERIALIZED and ALIAS columns are skipped; a
DEFAULT column no row of a block sets is left out of that INSERT so the server computes it) and converts JSON
fields by column name straight into typed column buffers: (U)Int8-256 (big integers exactly, from numbers or
strings), Float32/64, Decimal (exact, rounded half-even to the scale), String (non-string JSON is stored as its
JSON text), FixedString, UUID, Enum8/16 (by name or number), Date, Date32, DateTime and DateTime64 (RFC 3339,
`+"`YYYY-MM-DD hh:mm:ss[.fff]`"+` in the column's or the server's time zone, or epoch numbers, see
`+"`epoch_unit`"+`), Bool, IPv4/IPv6, Nullable, LowCardinality, Array, Map, Tuple (array or object), Nested
(flattened `+"`n.a`"+` columns fed from an array of objects `+"`n`"+`, or a Nested column) and JSON. Values that do not
fit their column fail their message with an error naming the column.

The schema is cached and read again after `+"`schema_refresh_interval`"+`; when the server reports an unknown
column, type mismatch or unknown table, or the driver refuses the cached type's values for a column whose type
changed (the block is then rebuilt from the same messages and sent once more); and when a row carries a field with
no column or a value that does not fit its cached column (at most once per second). So a column added, dropped or
retyped while running, or a table recreated, is written correctly from the next batch on. `+"`columns`"+` gives Bloblang mappings that
override the value of named columns.

== Delivery guarantees

A message is acknowledged only after the server accepted the INSERT of its block (with `+"`async_insert`"+`, after
the server flushed it, unless `+"`wait_for_async_insert: false`"+`). Network errors and transient server errors
(timeouts, too many parts, memory limit, read-only or lost replicas, unknown insert status) are retried with
exponential backoff and jitter, sending the identical block again; when retries run out the messages are nacked and
Benthos delivers them again. Errors that sending again cannot fix fail only the affected messages with an error
naming the table, the row and the cause; the rest of the batch is written. A row that does not fit its column fails
its message before sending. When the server rejects a block for its data (parse, type or range errors, a
`+"`throwIf`"+` in a DEFAULT expression, a CHECK constraint), the block is split in halves at message boundaries
and sent again, recursively, so only the messages the server still rejects fail, with its error (about
16·log2(n) sub-blocks at most for a block of n messages; halves beyond that fail whole). Other errors (unknown table,
settings, permissions) fail the table's block. Delivery is therefore at least once. On servers 22.2 and newer,
`+"`deduplication_token`"+` sets `+"`insert_deduplication_token`"+` from the block's content or its Danube offsets (a
sub-block of a split gets the token of its own messages), so a block re-sent after an unknown outcome is stored
once by tables with insert deduplication (Replicated*, or MergeTree with `+"`non_replicated_deduplication_window`"+`). Options a server is too old for fail at connect naming its
version, never silently.

== Metrics

Labelled `+"`table`"+` (`+"`database.table`"+`): `+"`clickhouse_rows_written`"+`, `+"`clickhouse_bytes_written`"+`
(message bytes), `+"`clickhouse_blocks_written`"+` (successful INSERTs, sub-blocks of a split included) and the timer
`+"`clickhouse_insert_latency_ns`"+` (per block, retries included). Labelled `+"`table`"+` and `+"`code`"+` (the
server's error code, `+"`0`"+` for client-side and network errors): `+"`clickhouse_retries`"+` (retried attempts)
and `+"`clickhouse_errors`"+` (failed messages).
`+service.OutputPerformanceDocs(true, true)).
		Fields(
			service.NewStringListField(choFieldAddr).
				Description("Native protocol addresses (`host:port`) of the server or cluster nodes; connections go round-robin.").
				Example([]string{"127.0.0.1:9000"}),
			service.NewInterpolatedStringField(choFieldDatabase).
				Description("Database of the target table. Interpolated per message.").Default("default"),
			service.NewInterpolatedStringField(choFieldTable).
				Description("Target table. Interpolated per message: a batch is grouped per (database, table), one block each.").
				Example("events").Example(`${! meta("danube_topic").split("/").index(-1) }`),
			service.NewStringField(choFieldUsername).Description("User name.").Default("default"),
			service.NewStringField(choFieldPassword).Description("Password.").Default("").Secret(),
			service.NewTLSToggledField(choFieldTLS),
			service.NewStringAnnotatedEnumField(choFieldCompression, map[string]string{
				"lz4":   "LZ4: cheap on CPU (the default).",
				"lz4hc": "LZ4 high compression: smaller blocks, more client CPU.",
				"zstd":  "ZSTD: smallest blocks.",
				"none":  "No compression.",
			}).Description("Block compression of the native protocol.").Default("lz4"),
			service.NewIntField(choFieldCompressionLevel).
				Description("Compression level for lz4hc and zstd; 0 means the library default.").Default(0).Advanced(),
			service.NewDurationField(choFieldDialTimeout).Description("Timeout to open a connection.").Default("10s"),
			service.NewDurationField(choFieldWriteTimeout).Description("Timeout of one INSERT round trip; an INSERT that times out is retried.").Default("60s"),
			service.NewIntField(choFieldMaxOpenConns).
				Description("Connection pool size: the most INSERTs in flight at once.").Default(8).
				LintRule(`root = if this < 1 { "max_open_conns must be at least 1" }`),
			sinkspec.PayloadFormatField(),
			service.NewStringAnnotatedEnumField(choFieldUnknownFields, map[string]string{
				"ignore":    "Drop fields with no column.",
				"error":     "Fail the message.",
				"catch_all": "Collect them as one JSON object into the String column `catch_all_column`.",
			}).Description("What happens to a JSON field that has no column in the table.").Default("ignore"),
			service.NewStringField(choFieldCatchAllColumn).
				Description("String column that receives unknown fields with `unknown_fields: catch_all`.").Default("_unknown"),
			service.NewStringAnnotatedEnumField(choFieldMissingFields, map[string]string{
				"default": "Write the type's default (0, empty string, 1970-01-01...).",
				"error":   "Fail the message.",
			}).Description("What happens when a non-Nullable column's field is missing or null. Nullable columns get NULL.").Default("default"),
			service.NewStringEnumField(choFieldEpochUnit, "auto", "s", "ms", "us", "ns").
				Description("Unit of epoch numbers in DateTime/DateTime64 columns; `auto` picks it from the magnitude (below 1e11 seconds, 1e14 milliseconds, 1e17 microseconds, else nanoseconds).").
				Default("auto").Advanced(),
			service.NewStringMapField(choFieldColumns).
				Description("Bloblang queries, by column name, whose results replace that column's JSON field. They run on each row (`this` is the row) and may use the message's metadata.").
				Default(map[string]any{}).
				Example(map[string]any{"ingested_at": "now()", "topic": `meta("danube_topic")`}),
			service.NewBoolField(choFieldAsyncInsert).
				Description("Use server-side asynchronous inserts (`async_insert=1`). Needs ClickHouse 21.11 or newer.").Default(false).Advanced(),
			service.NewBoolField(choFieldWaitAsyncInsert).
				Description("With `async_insert`, acknowledge only after the server flushed the data (`wait_for_async_insert=1`). Turning it off acknowledges data that is not yet durable.").Default(true).Advanced(),
			service.NewStringAnnotatedEnumField(choFieldDedupToken, map[string]string{
				"none":           "No token.",
				"content":        "A hash of the table name and the payloads of the block.",
				"danube_offsets": "The Danube topic and offset range of the block (metadata `danube_topic`, `danube_offset`); blocks without them use `content`.",
			}).Description("Sets `insert_deduplication_token` per block (ClickHouse 22.2 or newer).").Default("none").Advanced(),
			service.NewDurationField(choFieldSchemaRefresh).
				Description("How long a table's schema is cached before it is read again.").Default("5m").Advanced(),
			service.NewObjectField(choFieldRetry,
				service.NewIntField(choFieldRetryMax).Description("Retries of a transient failure before the messages are nacked; -1 retries until shutdown.").Default(10),
				service.NewDurationField(choFieldRetryInitial).Description("First backoff.").Default("200ms"),
				service.NewDurationField(choFieldRetryMaxInterval).Description("Longest backoff.").Default("10s"),
			).Description("Backoff (exponential with jitter) of network and transient server errors.").Advanced(),
			service.NewObjectField(choFieldCreateTable,
				service.NewBoolField(choFieldCreateEnabled).Description("Create a missing table.").Default(false),
				service.NewStringField(choFieldCreateEngine).Description("Table engine.").Default("MergeTree"),
				service.NewStringField(choFieldCreateOrderBy).Description("ORDER BY expression; its columns are not Nullable.").Default("tuple()"),
				service.NewStringField(choFieldCreatePartition).Description("PARTITION BY expression; empty means none.").Default(""),
			).Description("Create a missing table with columns inferred from the first batch (strings, RFC 3339 timestamps, Int64, Float64, booleans, arrays; objects as String). For quick starts: production tables should be created by hand.").Advanced(),
			service.NewOutputMaxInFlightField().Default(4),
			service.NewBatchPolicyField(choFieldBatching),
		).
		LintRule(`root = if this.async_insert.or(false) == false && this.wait_for_async_insert.or(true) == false { "wait_for_async_insert only applies with async_insert: true" }`).
		Example("Danube to ClickHouse", "Insert JSON events from a Danube topic, 10,000 rows per block.", `
input:
  danube:
    url: http://127.0.0.1:6650
    topics: [ /default/events ]
    subscription: clickhouse
output:
  clickhouse_async:
    addr: [ 127.0.0.1:9000 ]
    database: analytics
    table: events
    max_in_flight: 4
    batching:
      count: 10000
      period: 1s
`).
		Example("Many rows per message", "Producers publish newline-delimited JSON; each message carries many rows.", `
output:
  clickhouse_async:
    addr: [ 127.0.0.1:9000 ]
    table: '${! meta("kind") }'
    payload_format: ndjson
    unknown_fields: catch_all
    catch_all_column: extra
    batching:
      count: 50
      period: 1s
`)
}

func init() {
	service.MustRegisterBatchOutput("clickhouse_async", clickhouseAsyncOutputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (out service.BatchOutput, pol service.BatchPolicy, mif int, err error) {
			if pol, err = conf.FieldBatchPolicy(choFieldBatching); err != nil {
				return
			}
			if mif, err = conf.FieldMaxInFlight(); err != nil {
				return
			}
			var oc outputConfig
			if oc, err = outputConfigFromParsed(conf); err != nil {
				return
			}
			out = newClickhouseAsyncOutput(oc, mgr)
			return
		})
}

type outputConfig struct {
	sink     chsink.Options
	database *service.InterpolatedString
	table    *service.InterpolatedString
	columns  *bloblang.Executor // one mapping setting every `columns` entry
}

// columnsMapping compiles the `columns` queries into one mapping that
// builds an object of column values, so each row runs one mapping.
func columnsMapping(cols map[string]string) (*bloblang.Executor, error) {
	if len(cols) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(cols))
	for name := range cols {
		names = append(names, name)
	}
	sort.Strings(names)
	var sb strings.Builder
	sb.WriteString("root = {}\n")
	for _, name := range names {
		if _, err := bloblang.Parse("root = " + cols[name]); err != nil {
			return nil, fmt.Errorf("field %s.%s: %w", choFieldColumns, name, err)
		}
		fmt.Fprintf(&sb, "root.%s = %s\n", strconv.Quote(name), cols[name])
	}
	exec, err := bloblang.Parse(sb.String())
	if err != nil {
		return nil, fmt.Errorf("field %s: %w", choFieldColumns, err)
	}
	return exec, nil
}

func outputConfigFromParsed(conf *service.ParsedConfig) (oc outputConfig, err error) {
	o := &oc.sink
	if o.Addr, err = conf.FieldStringList(choFieldAddr); err != nil {
		return
	}
	if len(o.Addr) == 0 {
		return oc, fmt.Errorf("field %s: at least one address is needed", choFieldAddr)
	}
	if oc.database, err = conf.FieldInterpolatedString(choFieldDatabase); err != nil {
		return
	}
	if oc.table, err = conf.FieldInterpolatedString(choFieldTable); err != nil {
		return
	}
	if o.Username, err = conf.FieldString(choFieldUsername); err != nil {
		return
	}
	if o.Password, err = conf.FieldString(choFieldPassword); err != nil {
		return
	}
	tlsConf, tlsOn, err := conf.FieldTLSToggled(choFieldTLS)
	if err != nil {
		return
	}
	if tlsOn {
		o.TLS = tlsConf
	}
	var method string
	var level int
	if method, err = conf.FieldString(choFieldCompression); err != nil {
		return
	}
	if level, err = conf.FieldInt(choFieldCompressionLevel); err != nil {
		return
	}
	if o.Compression, err = chsink.Compression(method, level); err != nil {
		return oc, fmt.Errorf("field %s: %w", choFieldCompression, err)
	}
	if o.DialTimeout, err = conf.FieldDuration(choFieldDialTimeout); err != nil {
		return
	}
	if o.WriteTimeout, err = conf.FieldDuration(choFieldWriteTimeout); err != nil {
		return
	}
	if o.MaxOpenConns, err = conf.FieldInt(choFieldMaxOpenConns); err != nil {
		return
	}
	if o.MaxOpenConns < 1 {
		return oc, fmt.Errorf("field %s: must be at least 1", choFieldMaxOpenConns)
	}
	if o.Format, err = sinkspec.PayloadFormatFromParsed(conf); err != nil {
		return
	}
	var s string
	if s, err = conf.FieldString(choFieldUnknownFields); err != nil {
		return
	}
	if o.UnknownFields, err = chsink.ParseUnknownFields(s); err != nil {
		return oc, fmt.Errorf("field %s: %w", choFieldUnknownFields, err)
	}
	if o.CatchAllColumn, err = conf.FieldString(choFieldCatchAllColumn); err != nil {
		return
	}
	if s, err = conf.FieldString(choFieldMissingFields); err != nil {
		return
	}
	switch s {
	case "default":
		o.Conv.MissingDefault = true
	case "error":
	default:
		return oc, fmt.Errorf("field %s: unknown value %q", choFieldMissingFields, s)
	}
	if s, err = conf.FieldString(choFieldEpochUnit); err != nil {
		return
	}
	if o.Conv.EpochUnit, err = chsink.ParseEpochUnit(s); err != nil {
		return oc, fmt.Errorf("field %s: %w", choFieldEpochUnit, err)
	}
	var cols map[string]string
	if cols, err = conf.FieldStringMap(choFieldColumns); err != nil {
		return
	}
	if oc.columns, err = columnsMapping(cols); err != nil {
		return
	}
	if o.AsyncInsert, err = conf.FieldBool(choFieldAsyncInsert); err != nil {
		return
	}
	if o.WaitAsyncInsert, err = conf.FieldBool(choFieldWaitAsyncInsert); err != nil {
		return
	}
	if s, err = conf.FieldString(choFieldDedupToken); err != nil {
		return
	}
	if o.Dedup, err = chsink.ParseDedupMode(s); err != nil {
		return oc, fmt.Errorf("field %s: %w", choFieldDedupToken, err)
	}
	if o.SchemaMaxAge, err = conf.FieldDuration(choFieldSchemaRefresh); err != nil {
		return
	}
	rc := conf.Namespace(choFieldRetry)
	if o.Retry.MaxRetries, err = rc.FieldInt(choFieldRetryMax); err != nil {
		return
	}
	if o.Retry.Initial, err = rc.FieldDuration(choFieldRetryInitial); err != nil {
		return
	}
	if o.Retry.Max, err = rc.FieldDuration(choFieldRetryMaxInterval); err != nil {
		return
	}
	cc := conf.Namespace(choFieldCreateTable)
	var create bool
	if create, err = cc.FieldBool(choFieldCreateEnabled); err != nil {
		return
	}
	if create {
		ct := &chsink.CreateTable{}
		if ct.Engine, err = cc.FieldString(choFieldCreateEngine); err != nil {
			return
		}
		if ct.OrderBy, err = cc.FieldString(choFieldCreateOrderBy); err != nil {
			return
		}
		if ct.PartitionBy, err = cc.FieldString(choFieldCreatePartition); err != nil {
			return
		}
		o.CreateTable = ct
	}
	return oc, nil
}

type clickhouseAsyncOutput struct {
	conf outputConfig
	log  *service.Logger
	m    *outputMetrics

	mu   sync.RWMutex
	sink *chsink.Sink
}

func newClickhouseAsyncOutput(conf outputConfig, mgr *service.Resources) *clickhouseAsyncOutput {
	return &clickhouseAsyncOutput{conf: conf, log: mgr.Logger(), m: newOutputMetrics(mgr.Metrics(), mgr.Logger())}
}

func (o *clickhouseAsyncOutput) Connect(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sink != nil {
		return nil
	}
	s, err := chsink.Open(ctx, o.conf.sink, o.m)
	if err != nil {
		return err
	}
	v := s.ServerVersion()
	o.log.Infof("clickhouse_async connected to %v (%s %d.%d.%d)", o.conf.sink.Addr, v.Name, v.Version.Major, v.Version.Minor, v.Version.Patch)
	o.sink = s
	return nil
}

func (o *clickhouseAsyncOutput) WriteBatch(ctx context.Context, batch service.MessageBatch) error {
	o.mu.RLock()
	s := o.sink
	o.mu.RUnlock()
	if s == nil {
		return service.ErrNotConnected
	}
	msgs := make([]chsink.Message, len(batch))
	var batchErr *service.BatchError
	fail := func(i int, err error) {
		if batchErr == nil {
			batchErr = service.NewBatchError(batch, err)
		}
		batchErr = batchErr.Failed(i, err)
	}
	groups := map[[2]string]int{}
	var gs []chsink.Group
	for i, msg := range batch {
		db, err := interpolate(o.conf.database, msg)
		if err != nil {
			fail(i, fmt.Errorf("field %s: %w", choFieldDatabase, err))
			continue
		}
		table, err := interpolate(o.conf.table, msg)
		if err != nil {
			fail(i, fmt.Errorf("field %s: %w", choFieldTable, err))
			continue
		}
		if table == "" {
			fail(i, fmt.Errorf("field %s: the table name is empty", choFieldTable))
			continue
		}
		payload, err := msg.AsBytes()
		if err != nil {
			fail(i, err)
			continue
		}
		msgs[i] = sinkMessage(msg, payload)
		if o.conf.columns != nil {
			msgs[i].Overrides = o.overrides(msg)
		}
		key := [2]string{db, table}
		gi, ok := groups[key]
		if !ok {
			gi = len(gs)
			groups[key] = gi
			gs = append(gs, chsink.Group{Database: db, Table: table})
		}
		gs[gi].Indexes = append(gs[gi].Indexes, i)
	}
	for i, err := range s.Write(ctx, msgs, gs) {
		if err != nil {
			fail(i, fmt.Errorf("message %d: %w", i, err))
		}
	}
	if batchErr == nil {
		return nil
	}
	return batchErr
}

// sinkMessage carries the payload and the Danube position (metadata set
// by the danube input) of msg.
func sinkMessage(msg *service.Message, payload []byte) chsink.Message {
	m := chsink.Message{Payload: payload}
	if t, ok := msg.MetaGet(metaDanubeTopic); ok {
		if off, ok := msg.MetaGet(metaDanubeOffset); ok {
			if n, err := strconv.ParseUint(off, 10, 64); err == nil {
				m.Topic, m.Offset, m.HasOffset = t, n, true
			}
		}
	}
	return m
}

// interpolate resolves a per-message name; static names cost nothing
// (a batch-wide interpolation per message would cost O(batch) each).
func interpolate(s *service.InterpolatedString, msg *service.Message) (string, error) {
	if v, ok := s.Static(); ok {
		return v, nil
	}
	return s.TryString(msg)
}

// overrides evaluates the `columns` mappings for one row of msg.
func (o *clickhouseAsyncOutput) overrides(msg *service.Message) func(int, []byte) (map[string]any, error) {
	return func(_ int, row []byte) (map[string]any, error) {
		rm := msg.Copy()
		rm.SetBytes(row)
		res, err := rm.BloblangQuery(o.conf.columns)
		if err != nil {
			return nil, err
		}
		if res == nil {
			return nil, errors.New("the mapping deleted the row")
		}
		v, err := res.AsStructured()
		if err != nil {
			return nil, err
		}
		out, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("expected an object of column values, got %T", v)
		}
		return out, nil
	}
}

func (o *clickhouseAsyncOutput) Close(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sink == nil {
		return nil
	}
	err := o.sink.Close()
	o.sink = nil
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// outputMetrics implements chsink.Metrics with Benthos metrics labelled
// by table (and server error code).
type outputMetrics struct {
	rows, bytes, blocks *service.MetricCounter
	retries, errors     *service.MetricCounter
	latency             *service.MetricTimer
	log                 *service.Logger
}

func newOutputMetrics(m *service.Metrics, log *service.Logger) *outputMetrics {
	return &outputMetrics{
		log:     log,
		rows:    m.NewCounter("clickhouse_rows_written", "table"),
		bytes:   m.NewCounter("clickhouse_bytes_written", "table"),
		blocks:  m.NewCounter("clickhouse_blocks_written", "table"),
		retries: m.NewCounter("clickhouse_retries", "table", "code"),
		errors:  m.NewCounter("clickhouse_errors", "table", "code"),
		latency: m.NewTimer("clickhouse_insert_latency_ns", "table"),
	}
}

func (m *outputMetrics) Inserted(table string, rows, bytes int, latency time.Duration) {
	m.rows.Incr(int64(rows), table)
	m.bytes.Incr(int64(bytes), table)
	m.blocks.Incr(1, table)
	m.latency.Timing(latency.Nanoseconds(), table)
}

func (m *outputMetrics) Retried(table string, code int32, err error) {
	m.retries.Incr(1, table, strconv.Itoa(int(code)))
	m.log.Warnf("clickhouse_async: retrying the insert into %s: %v", table, err)
}

func (m *outputMetrics) Failed(table string, code int32, messages int) {
	m.errors.Incr(int64(messages), table, strconv.Itoa(int(code)))
}
