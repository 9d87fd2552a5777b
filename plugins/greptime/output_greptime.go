// Package greptime registers the greptime output: rows into GreptimeDB over
// its gRPC API. The mapping lives in ./mapping, the protocol in ./ingest.
package greptime

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/greptime/ingest"
	"github.com/danube-connect/danube-connect/plugins/greptime/mapping"
	"github.com/danube-connect/danube-connect/plugins/jsonrows"
	"github.com/danube-connect/danube-connect/plugins/sinkspec"
)

const (
	gtoFieldAddr            = "addr"
	gtoFieldDatabase        = "database"
	gtoFieldTable           = "table"
	gtoFieldUsername        = "username"
	gtoFieldPassword        = "password"
	gtoFieldTLS             = "tls"
	gtoFieldCompression     = "compression"
	gtoFieldTimeout         = "timeout"
	gtoFieldHints           = "hints"
	gtoFieldHintTTL         = "ttl"
	gtoFieldHintAppendMode  = "append_mode"
	gtoFieldHintMergeMode   = "merge_mode"
	gtoFieldHintAutoCreate  = "auto_create_table"
	gtoFieldMapping         = "mapping"
	gtoFieldTimestamp       = "timestamp"
	gtoFieldTSPath          = "path"
	gtoFieldTSUnit          = "unit"
	gtoFieldTSLayout        = "layout"
	gtoFieldTSPrecision     = "precision"
	gtoFieldTSColumn        = "column"
	gtoFieldTags            = "tags"
	gtoFieldFields          = "fields"
	gtoFieldColPath         = "path"
	gtoFieldColName         = "name"
	gtoFieldColType         = "type"
	gtoFieldMaxRetries      = "max_retries"
	gtoFieldBackoff         = "backoff"
	gtoFieldBackoffInitial  = "initial_interval"
	gtoFieldBackoffMax      = "max_interval"
	gtoFieldBatching        = "batching"
	gtoFieldMaxInFlight     = "max_in_flight"
	gtoPublishTimeMetadata  = "danube_publish_time"
	gtoDefaultGRPCAddr      = "127.0.0.1:4001"
	gtoDefaultDatabase      = "public"
	gtoDefaultMaxInFlight   = 4
	gtoDefaultRequestTimout = "10s"
)

func gtoSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Writes rows into GreptimeDB over its gRPC ingestion API (metrics, logs and events).").
		Description(`
Every batch becomes one gRPC `+"`GreptimeDatabase.Handle`"+` request of row inserts carrying all the tables the
batch's messages map to (the `+"`table`"+` field is interpolated per message). Rows are read from JSON with one of
three mappings:

- `+"`columns`"+` (default): `+"`timestamp`"+` gives the time index, `+"`tags`"+` the tag (primary key) columns and
  `+"`fields`"+` the field columns, each with an optional type. Without `+"`fields`"+`, every other top-level key is a
  field with its type inferred from the JSON value: integers int64, other numbers float64, booleans, strings, and
  objects and arrays as their JSON text. An integer arriving in a column this output already wrote as float64 (or a
  float in an int64 column first seen in the same batch) is converted, so a sensor sending `+"`21`"+` then `+"`21.5`"+`
  does not split a column; declare the type in `+"`fields`"+` to be explicit.
- `+"`metrics`"+`: Prometheus-style metric events `+"`{\"name\", \"labels\" (or \"tags\"), \"value\" (or gauge.value, counter.value), \"timestamp\"}`"+`.
  Like Vector's `+"`greptimedb_metrics`"+` sink and GreptimeDB's own Prometheus ingestion, every metric is a table
  (`+"`<table>_<name>`"+` when `+"`table`"+` is set, else `+"`<name>`"+`), labels are string tags, the value is
  the float64 field `+"`greptime_value`"+` and the time index is `+"`greptime_timestamp`"+`.
- `+"`logs`"+`: a JSON object is read as with `+"`columns`"+` (with `+"`timestamp.path`"+` optional, `+"`timestamp`"+`
  by default); any other line becomes the string field `+"`message`"+`.

Table and column names are converted the way GreptimeDB's ingesters do (snake_case, lower case, trimmed, shorter than
100 bytes: `+"`hostName`"+` becomes `+"`host_name`"+`). Without a timestamp of its own, a row takes the message's
Danube publish time (metadata `+"`danube_publish_time`"+`), else the current time.

The output dials its own gRPC connection, so `+"`tls`"+` root CAs and client certificates (mTLS) apply, compresses
requests with gzip or zstd if asked, sends basic auth in the request header and table options as the
`+"`x-greptime-hints`"+` header (applied when GreptimeDB creates a table).

== Delivery guarantees

At least once. A batch is acknowledged only after GreptimeDB answered the write with a success status and as many
affected rows as rows sent. Transient errors (GreptimeDB codes 4008 RegionNotReady, 4009 RegionBusy, 4010
TableUnavailable, 5000 StorageUnavailable, 6000 RuntimeResourcesExhausted from the `+"`x-greptime-err-code`"+`
trailer; without a code, gRPC Unavailable, ResourceExhausted, Aborted and Unknown) are retried up to
`+"`max_retries`"+` times with exponential backoff and full jitter; if they persist, or the server is unreachable,
the whole batch fails and the input redelivers it. Authentication errors, an unknown database and timeouts fail the
whole batch too. When GreptimeDB rejects data (a type conflict with an existing column, a second time index, an
absent table with `+"`auto_create_table: false`"+`), the request is split per table and then in halves at message
boundaries until the rejected messages are found: only they fail, with the server's error naming the table, and
every other row is written. A message whose row cannot be mapped fails alone, naming the row.

GreptimeDB has no idempotency key: a retried or redelivered row is written again. For tables in the default merge
mode that is harmless (equal tags and time index overwrite the earlier row), so retries are idempotent; for tables
with `+"`append_mode: true`"+` a retry after a lost answer can duplicate rows.

== Metrics

- `+"`greptime_output_rows`"+` and `+"`greptime_output_bytes`"+` (label `+"`table`"+`): rows written and the bytes of
  the JSON rows (or log lines) they were read from; rejected rows are not counted.
- `+"`greptime_output_errors`"+` and `+"`greptime_output_retries`"+` (labels `+"`code`"+`, the GreptimeDB code or else
  the gRPC code, and `+"`table`"+`): failed requests and retries of transient errors. `+"`table`"+` is empty when the
  request carried several tables: the server does not say which of them failed.
- `+"`greptime_output_rejected_messages`"+` (label `+"`reason`"+`: `+"`mapping`"+` or `+"`server`"+`): messages failed alone.
- `+"`greptime_output_batches`"+`, `+"`greptime_output_requests`"+` and `+"`greptime_output_request_latency_ns`"+`
  have no `+"`table`"+` label: a batch is written as one request carrying all its tables (further requests only
  when rejected rows are isolated or errors retried).`).
		Fields(
			service.NewStringField(gtoFieldAddr).
				Description("host:port of GreptimeDB's gRPC endpoint.").
				Default(gtoDefaultGRPCAddr).Example("greptime.example.com:4001"),
			service.NewStringField(gtoFieldDatabase).
				Description("The database (schema) to write to.").Default(gtoDefaultDatabase),
			service.NewInterpolatedStringField(gtoFieldTable).
				Description("The table of each message; with `mapping: metrics`, an optional prefix of the per-metric tables.").
				Example("sensors").Example(`${! meta("danube_topic").re_replace_all("[^a-zA-Z0-9]+", "_") }`).
				Optional(),
			service.NewStringField(gtoFieldUsername).Description("Basic auth user; empty for no auth.").Default(""),
			service.NewStringField(gtoFieldPassword).Description("Basic auth password.").Default("").Secret(),
			service.NewTLSToggledField(gtoFieldTLS),
			service.NewStringAnnotatedEnumField(gtoFieldCompression, map[string]string{
				"none": "No compression.",
				"gzip": "gzip (grpc-encoding gzip).",
				"zstd": "zstd (grpc-encoding zstd), cheaper in CPU than gzip for the same ratio.",
			}).Description("Compression of the requests.").Default("none").Advanced(),
			service.NewDurationField(gtoFieldTimeout).
				Description("Timeout of each write request (and of the health check at connect).").
				Default(gtoDefaultRequestTimout),
			service.NewObjectField(gtoFieldHints,
				service.NewStringField(gtoFieldHintTTL).Description("Table TTL, e.g. `7d`; empty keeps the database default.").Default(""),
				service.NewBoolField(gtoFieldHintAppendMode).Description("Create tables in append mode (rows are never merged; retries can then duplicate rows).").Optional(),
				service.NewStringEnumField(gtoFieldHintMergeMode, "last_row", "last_non_null").Description("How rows with equal tags and time index merge.").Optional(),
				service.NewBoolField(gtoFieldHintAutoCreate).Description("Whether GreptimeDB creates missing tables and columns.").Default(true),
			).Description("Table options sent as the `x-greptime-hints` header; they apply when GreptimeDB creates a table.").Advanced(),
			service.NewStringAnnotatedEnumField(gtoFieldMapping, map[string]string{
				"columns": "timestamp, tags and fields as configured (all other keys as inferred fields when `fields` is empty).",
				"metrics": "Prometheus-style metric events: one table per metric, labels as tags, `greptime_value`, `greptime_timestamp`.",
				"logs":    "Log lines: JSON objects as in `columns`, any other line as the `message` field.",
			}).Description("How rows are read.").Default("columns"),
			service.NewObjectField(gtoFieldTimestamp,
				service.NewStringField(gtoFieldTSPath).Description("Dotted path of the time value; empty for the message's publish time (else now).").Default("").Example("ts").Example("event.time"),
				service.NewStringEnumField(gtoFieldTSUnit, mapping.UnitNames...).Description("Unit of numeric timestamps (and numeric strings).").Default("ms"),
				service.NewStringField(gtoFieldTSLayout).Description("Go time layout of string timestamps; empty for RFC 3339.").Default("").Advanced(),
				service.NewStringEnumField(gtoFieldTSPrecision, mapping.PrecisionNames...).Description("Precision of the time index column.").Default("ms"),
				service.NewStringField(gtoFieldTSColumn).Description("Name of the time index column; empty for `ts` (`greptime_timestamp` with `mapping: metrics`).").Default(""),
			).Description("Where the time index of a row comes from."),
			service.NewStringListField(gtoFieldTags).
				Description("Dotted paths of the tag (primary key) columns; the column name is the path with dots as underscores, in snake_case.").
				Default([]any{}).Example([]any{"device_id", "site"}),
			service.NewObjectListField(gtoFieldFields,
				service.NewStringField(gtoFieldColPath).Description("Dotted path of the value."),
				service.NewStringField(gtoFieldColName).Description("Column name; empty for the path with dots as underscores, in snake_case.").Default(""),
				service.NewStringField(gtoFieldColType).Description("Column type: int64, uint64, float64, bool, string, binary (the string's bytes), json; empty to infer.").Default(""),
			).Description("The field columns; empty for every top-level key that is neither a tag nor the timestamp, with inferred types.").
				Default([]any{}),
			sinkspec.PayloadFormatField(),
			service.NewIntField(gtoFieldMaxRetries).Description("Retries of a transient error before the batch fails (and is redelivered).").Default(3).Advanced(),
			service.NewObjectField(gtoFieldBackoff,
				service.NewDurationField(gtoFieldBackoffInitial).Description("First retry delay (full jitter).").Default("100ms"),
				service.NewDurationField(gtoFieldBackoffMax).Description("Cap of the exponential retry delay.").Default("5s"),
			).Description("Delays between retries.").Advanced(),
			service.NewOutputMaxInFlightField().Default(gtoDefaultMaxInFlight),
			service.NewBatchPolicyField(gtoFieldBatching),
		).
		LintRule(`root = match {
  this.mapping.or("columns") != "metrics" && this.table.or("") == "" => [ "field table is required unless mapping is metrics" ],
  this.mapping.or("columns") == "metrics" && (this.tags.or([]).length() > 0 || this.fields.or([]).length() > 0) => [ "mapping metrics takes tags from labels and the value as its field: remove tags and fields" ],
}`).
		Example("IoT sensor readings", "Sensor JSON from a Danube topic into one table, device and site as tags.", `
output:
  greptime:
    addr: greptime:4001
    database: iot
    table: sensor_readings
    timestamp: { path: ts, unit: ms }
    tags: [ device_id, site ]
    fields:
      - { path: temperature, type: float64 }
      - { path: humidity, type: float64 }
    batching: { count: 1000, period: 100ms }
`)
}

func init() {
	service.MustRegisterBatchOutput("greptime", gtoSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			cfg, err := gtoConfigFromParsed(conf)
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			out, err := newGreptimeOutput(cfg, mgr)
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			return out, cfg.batching, cfg.maxInFlight, nil
		})
}

type gtoConfig struct {
	client      ingest.Config
	mapping     mapping.Config
	table       *service.InterpolatedString
	format      jsonrows.Format
	backoff     ingest.Backoff
	batching    service.BatchPolicy
	maxInFlight int
}

func gtoConfigFromParsed(conf *service.ParsedConfig) (c gtoConfig, err error) {
	if c.client.Addr, err = conf.FieldString(gtoFieldAddr); err != nil {
		return c, err
	}
	if c.client.Database, err = conf.FieldString(gtoFieldDatabase); err != nil {
		return c, err
	}
	if c.client.Username, err = conf.FieldString(gtoFieldUsername); err != nil {
		return c, err
	}
	if c.client.Password, err = conf.FieldString(gtoFieldPassword); err != nil {
		return c, err
	}
	tlsConf, tlsOn, err := conf.FieldTLSToggled(gtoFieldTLS)
	if err != nil {
		return c, err
	}
	if tlsOn {
		c.client.TLS = tlsConf
	}
	if c.client.Compression, err = conf.FieldString(gtoFieldCompression); err != nil {
		return c, err
	}
	if c.client.Timeout, err = conf.FieldDuration(gtoFieldTimeout); err != nil {
		return c, err
	}
	h := conf.Namespace(gtoFieldHints)
	if c.client.Hints.TTL, err = h.FieldString(gtoFieldHintTTL); err != nil {
		return c, err
	}
	if strings.ContainsAny(c.client.Hints.TTL, ",= ") {
		return c, fmt.Errorf("%s.%s %q: a duration such as 7d or 12h", gtoFieldHints, gtoFieldHintTTL, c.client.Hints.TTL)
	}
	if h.Contains(gtoFieldHintAppendMode) {
		v, err := h.FieldBool(gtoFieldHintAppendMode)
		if err != nil {
			return c, err
		}
		c.client.Hints.AppendMode = strconv.FormatBool(v)
	}
	if h.Contains(gtoFieldHintMergeMode) {
		if c.client.Hints.MergeMode, err = h.FieldString(gtoFieldHintMergeMode); err != nil {
			return c, err
		}
	}
	auto, err := h.FieldBool(gtoFieldHintAutoCreate)
	if err != nil {
		return c, err
	}
	if !auto {
		c.client.Hints.AutoCreateTable = "false"
	}

	kind, err := conf.FieldString(gtoFieldMapping)
	if err != nil {
		return c, err
	}
	if c.mapping.Kind, err = mapping.ParseKind(kind); err != nil {
		return c, err
	}
	ts := conf.Namespace(gtoFieldTimestamp)
	if c.mapping.Timestamp.Path, err = ts.FieldString(gtoFieldTSPath); err != nil {
		return c, err
	}
	unit, err := ts.FieldString(gtoFieldTSUnit)
	if err != nil {
		return c, err
	}
	if c.mapping.Timestamp.Unit, err = mapping.ParseUnit(unit); err != nil {
		return c, fmt.Errorf("%s.%s: %w", gtoFieldTimestamp, gtoFieldTSUnit, err)
	}
	if c.mapping.Timestamp.Layout, err = ts.FieldString(gtoFieldTSLayout); err != nil {
		return c, err
	}
	prec, err := ts.FieldString(gtoFieldTSPrecision)
	if err != nil {
		return c, err
	}
	if c.mapping.Timestamp.Precision, err = mapping.ParsePrecision(prec); err != nil {
		return c, fmt.Errorf("%s.%s: %w", gtoFieldTimestamp, gtoFieldTSPrecision, err)
	}
	if c.mapping.Timestamp.Column, err = ts.FieldString(gtoFieldTSColumn); err != nil {
		return c, err
	}
	tags, err := conf.FieldStringList(gtoFieldTags)
	if err != nil {
		return c, err
	}
	for _, t := range tags {
		c.mapping.Tags = append(c.mapping.Tags, mapping.Column{Path: t})
	}
	fields, err := conf.FieldObjectList(gtoFieldFields)
	if err != nil {
		return c, err
	}
	for i, f := range fields {
		var col mapping.Column
		if col.Path, err = f.FieldString(gtoFieldColPath); err != nil {
			return c, err
		}
		if col.Name, err = f.FieldString(gtoFieldColName); err != nil {
			return c, err
		}
		typ, err := f.FieldString(gtoFieldColType)
		if err != nil {
			return c, err
		}
		if col.Type, err = mapping.ParseType(typ); err != nil {
			return c, fmt.Errorf("%s[%d] (%s): %w", gtoFieldFields, i, col.Path, err)
		}
		c.mapping.Fields = append(c.mapping.Fields, col)
	}

	if conf.Contains(gtoFieldTable) {
		if c.table, err = conf.FieldInterpolatedString(gtoFieldTable); err != nil {
			return c, err
		}
	} else if c.mapping.Kind != mapping.KindMetrics {
		return c, fmt.Errorf("field %s is required unless mapping is metrics", gtoFieldTable)
	}
	if c.format, err = sinkspec.PayloadFormatFromParsed(conf); err != nil {
		return c, err
	}
	if c.backoff.MaxRetries, err = conf.FieldInt(gtoFieldMaxRetries); err != nil {
		return c, err
	}
	if c.backoff.MaxRetries < 0 {
		return c, fmt.Errorf("%s must not be negative", gtoFieldMaxRetries)
	}
	bo := conf.Namespace(gtoFieldBackoff)
	if c.backoff.Initial, err = bo.FieldDuration(gtoFieldBackoffInitial); err != nil {
		return c, err
	}
	if c.backoff.Max, err = bo.FieldDuration(gtoFieldBackoffMax); err != nil {
		return c, err
	}
	if c.batching, err = conf.FieldBatchPolicy(gtoFieldBatching); err != nil {
		return c, err
	}
	if c.maxInFlight, err = conf.FieldMaxInFlight(); err != nil {
		return c, err
	}
	return c, nil
}

type greptimeOutput struct {
	cfg    gtoConfig
	mapper *mapping.Mapper
	log    *service.Logger

	writer atomic.Pointer[ingest.Writer]

	mRows     *service.MetricCounter // by table
	mBytes    *service.MetricCounter // by table
	mBatches  *service.MetricCounter
	mRequests *service.MetricCounter // one request carries all tables of a batch
	mLatency  *service.MetricTimer
	mRetries  *service.MetricCounter // by code, table
	mErrors   *service.MetricCounter // by code, table
	mRejected *service.MetricCounter // messages failed, by reason (mapping, server)
}

func newGreptimeOutput(cfg gtoConfig, mgr *service.Resources) (*greptimeOutput, error) {
	mp, err := mapping.New(cfg.mapping)
	if err != nil {
		return nil, err
	}
	m := mgr.Metrics()
	return &greptimeOutput{
		cfg: cfg, mapper: mp, log: mgr.Logger(),
		mRows:     m.NewCounter("greptime_output_rows", "table"),
		mBytes:    m.NewCounter("greptime_output_bytes", "table"),
		mBatches:  m.NewCounter("greptime_output_batches"),
		mRequests: m.NewCounter("greptime_output_requests"),
		mLatency:  m.NewTimer("greptime_output_request_latency_ns"),
		mRetries:  m.NewCounter("greptime_output_retries", "code", "table"),
		mErrors:   m.NewCounter("greptime_output_errors", "code", "table"),
		mRejected: m.NewCounter("greptime_output_rejected_messages", "reason"),
	}, nil
}

// Request implements ingest.Observer.
func (o *greptimeOutput) Request(table string, took time.Duration, err *ingest.Error) {
	o.mRequests.Incr(1)
	o.mLatency.Timing(took.Nanoseconds())
	if err != nil {
		o.mErrors.Incr(1, err.Label(), table)
	}
}

// Retry implements ingest.Observer.
func (o *greptimeOutput) Retry(table string, err *ingest.Error) {
	o.mRetries.Incr(1, err.Label(), table)
	o.log.Debugf("greptime: retrying after %v", err)
}

func (o *greptimeOutput) Connect(ctx context.Context) error {
	c, err := ingest.Dial(ctx, o.cfg.client)
	if err != nil {
		return err
	}
	if old := o.writer.Swap(&ingest.Writer{Client: c, Backoff: o.cfg.backoff, Obs: o}); old != nil {
		old.Client.Close()
	}
	return nil
}

// defaultTime is the time of rows without their own: the Danube publish
// time, else now.
func defaultTime(msg *service.Message, now time.Time) time.Time {
	if v, ok := msg.MetaGet(gtoPublishTimeMetadata); ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.UnixMilli(ms)
		}
	}
	return now
}

func (o *greptimeOutput) WriteBatch(ctx context.Context, batch service.MessageBatch) error {
	w := o.writer.Load()
	if w == nil {
		return service.ErrNotConnected
	}
	var bErr *service.BatchError
	fail := func(i int, err error) {
		if bErr == nil {
			bErr = service.NewBatchError(batch, err)
		}
		bErr.Failed(i, err)
	}
	b := o.mapper.NewBatch()
	now := time.Now()
	var exec *service.MessageBatchInterpolationExecutor
	static := ""
	if o.cfg.table != nil {
		// A static name needs no per-message executor (which copies the batch).
		var ok bool
		if static, ok = o.cfg.table.Static(); !ok {
			exec = batch.InterpolationExecutor(o.cfg.table)
		}
	}
	for i, msg := range batch {
		payload, err := msg.AsBytes()
		if err != nil {
			fail(i, err)
			continue
		}
		table := static
		if exec != nil {
			if table, err = exec.TryString(i); err != nil {
				fail(i, fmt.Errorf("message %d: table: %w", i, err))
				continue
			}
		}
		def := defaultTime(msg, now)
		b.Begin(i)
		_, err = jsonrows.Each(o.cfg.format, payload, func(_ int, row []byte) error {
			return b.AddRow(table, row, def)
		})
		if err != nil {
			b.Rollback()
			o.mRejected.Incr(1, "mapping")
			if table != "" {
				err = fmt.Errorf("table %s: message %d: %w", table, i, err)
			} else {
				err = fmt.Errorf("message %d: %w", i, err)
			}
			fail(i, err)
			continue
		}
	}
	tables := b.Tables()
	if len(tables) == 0 {
		return batchErr(bErr)
	}
	names := make([]string, len(tables))
	rows := make([]ingest.Rows, len(tables))
	for i, t := range tables {
		names[i], rows[i] = t.Name, t
	}
	res, err := w.Write(ctx, names, rows)
	if err != nil {
		return fmt.Errorf("writing %d rows of %d messages to greptime: %w", b.Rows(), len(batch), err)
	}
	o.mBatches.Incr(1)
	var ok []*mapping.Table
	for _, t := range tables {
		written, size := 0, 0
		for r := 0; r < t.Len(); r++ {
			if _, bad := res.Failed[t.Message(r)]; !bad {
				written++
				size += t.Size(r)
			}
		}
		if written == t.Len() {
			ok = append(ok, t)
		}
		o.mRows.Incr(int64(written), t.Name)
		o.mBytes.Incr(int64(size), t.Name)
	}
	o.mapper.Pin(ok)
	for i, err := range res.Failed {
		o.mRejected.Incr(1, "server")
		fail(i, fmt.Errorf("message %d: %w", i, err))
	}
	return batchErr(bErr)
}

// batchErr avoids returning a typed nil.
func batchErr(b *service.BatchError) error {
	if b == nil {
		return nil
	}
	return b
}

func (o *greptimeOutput) Close(context.Context) error {
	w := o.writer.Swap(nil)
	if w == nil {
		return nil
	}
	if err := w.Client.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
