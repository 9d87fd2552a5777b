package lancedb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/jsonrows"
	"github.com/danube-connect/danube-connect/plugins/lancedb/lancerows"
	"github.com/danube-connect/danube-connect/plugins/lancedb/lancestore"
	"github.com/danube-connect/danube-connect/plugins/sinkspec"
)

const (
	ldbFieldURI               = "uri"
	ldbFieldTable             = "table"
	ldbFieldCreateTable       = "create_table"
	ldbFieldID                = "id"
	ldbFieldVector            = "vector"
	ldbFieldColumns           = "columns"
	ldbFieldName              = "name"
	ldbFieldPath              = "path"
	ldbFieldType              = "type"
	ldbFieldRequired          = "required"
	ldbFieldDimension         = "dimension"
	ldbFieldElementType       = "element_type"
	ldbFieldVectorEncoding    = "vector_encoding"
	ldbFieldIndex             = "index"
	ldbFieldIndexMinRows      = "min_rows"
	ldbFieldS3                = "s3"
	ldbFieldS3Region          = "region"
	ldbFieldS3Endpoint        = "endpoint"
	ldbFieldS3AccessKeyID     = "access_key_id"
	ldbFieldS3SecretAccessKey = "secret_access_key"
	ldbFieldS3SessionToken    = "session_token"
	ldbFieldMaxOpenTables     = "max_open_tables"
	ldbFieldMaxInFlight       = "max_in_flight"
	ldbFieldBatching          = "batching"
)

// The batching policy used when the config sets none: every add creates a
// table version and a data fragment, so adds must carry many rows; the byte
// cap keeps large vectors (a 1536-d JSON row is ~19 KB) within memory.
const (
	ldbDefaultBatchCount    = 10000
	ldbDefaultBatchByteSize = 8 << 20
	ldbDefaultBatchPeriod   = "1s"
	ldbDefaultMaxInFlight   = 2
)

func ldbSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services", "AI").
		Version("0.1.0").
		Summary("Writes documents and their embedding vectors to LanceDB tables on local disk or S3, ready for vector search.").
		Description(`
Each row of a message (see `+"`payload_format`"+`) becomes one table row: an id, a fixed-size vector (the embedding) and any
declared text and metadata columns, each read from a path in the JSON row. The table is created with that schema
when it does not exist (`+"`create_table`"+`); an existing table (created by Python, say) is written with its own column
order, types and nullability, and must have every declared column (the others must be nullable: they get nulls).
The linked Lance (0.37) writes file format 2.0; a table created at format 2.2 (the default of newer Python
`+"`lancedb`"+` releases) must not be appended to, as newer readers reject what Lance 0.37 writes there: create shared
tables with `+"`data_storage_version=\"2.1\"`"+` or lower.

The output links lancedb-go's native library (Rust, via cgo). Binaries built without it (plain `+"`go build`"+`) list this
output but fail at start with a message saying how to build with LanceDB support: `+"`make build-lancedb`"+`.

== Batching and table versions

Each Benthos batch becomes, per table, one Arrow record and one LanceDB add. Every add commits a new table version
and writes a new data fragment, so many small adds make many versions and small files, which slow reads down until
the table is compacted. Batch big: left out, `+"`batching`"+` is `+"`count: 10000`"+`, `+"`byte_size: 8388608`"+` (8 MiB of
messages) and `+"`period: 1s`"+`, whichever comes first: a 768-d vector as JSON is ~9.7 KB, so such adds carry about
860 rows. Memory grows with the batch size: each batch in flight holds its messages plus about three copies of its
vectors (the Arrow record they are parsed into, the Arrow IPC bytes handed to the native library, and the library's
own decoded copy), times `+"`max_in_flight`"+` (2 by default: one batch parses while the other is added); record and IPC
buffers are reused from batch to batch. Raise `+"`byte_size`"+` for fewer, bigger fragments when memory allows. When
memory is tight, set `+"`max_in_flight`"+` to 1 (one batch held, parsed and added at a time, for less throughput), lower
`+"`byte_size`"+`, and give the process Go's soft memory limit, `+"`GOMEMLIMIT`"+`, of about a third of its budget: the
messages in flight live on Go's heap, which the collector otherwise lets grow to twice its live size, while the
native library's buffers and the binary's code take most of the rest.

Compact tables regularly: lancedb-go has no `+"`optimize`"+`, so run it from Python (`+"`lancedb`"+` on PyPI), for
example hourly:

`+"```python"+`
import lancedb
db = lancedb.connect("/data/lancedb")  # the same uri
for name in db.table_names():
    db.open_table(name).optimize()      # compacts fragments, prunes old versions, indexes new rows
`+"```"+`

== Vectors

`+"`vector.dimension`"+` (1 to 4096) is checked for every row. With `+"`vector_encoding: json`"+` the vector is a JSON array of
numbers; with `+"`base64_f32`"+` it is a JSON string holding the standard base64 of the elements as little-endian float32
(4 bytes each; numpy: `+"`base64.b64encode(v.astype('<f4').tobytes())`"+`), which skips float parsing, the main cost
of JSON vectors. Elements are stored as float32, or as float16 with `+"`vector.element_type: float16`"+` (half the size).

A message fails on its own, with an error naming the table, the row and the field, when a row is not a JSON object, a
vector has the wrong dimension, an element is not a number, is NaN or infinite or out of range, a required field
(the id, the vector, a `+"`required`"+` column or a non-nullable table column) is missing or null, or a value has the
wrong type; the other messages of the batch are written.

== Index

With `+"`index.min_rows`"+` set, a vector index (`+"`index.type`"+`, IVF_PQ by default) is built on the vector column in
the background once a table holds that many rows and has no index on it yet; a failed build is retried after as
many rows again. lancedb-go takes no index parameters, so LanceDB's defaults apply: L2 distance,
sqrt(rows) partitions, dimension/16 sub-vectors for PQ. Rows added later are searched without the index until
the table is optimized (see above).

== Delivery guarantees

At-least-once. A message is acknowledged only after the add that holds its rows has committed its table version
(on S3, after the objects and the manifest are written). A failed add fails every message of that table in the
batch, and Benthos retries them; a retry after an add that committed although its reply was lost writes the rows
again (LanceDB has no idempotent append through lancedb-go: deduplicate by id at read time or with a later
merge). Bad messages are reported as failed, never dropped silently.

== Concurrency and storage

Every native call (add, index build) holds an OS thread blocked inside the library until it finishes; at most
GOMAXPROCS run at once, and further calls wait, so the Go scheduler keeps its threads. Up to `+"`max_in_flight`"+` batches
are parsed concurrently. On S3, lancedb-go passes settings to the native library only through the process
environment: `+"`s3`"+` settings are exported as `+"`AWS_REGION`"+`, `+"`AWS_ENDPOINT`"+` (with `+"`AWS_ALLOW_HTTP`"+` for an
`+"`http://`"+` endpoint), `+"`AWS_ACCESS_KEY_ID`"+`, `+"`AWS_SECRET_ACCESS_KEY`"+` and `+"`AWS_SESSION_TOKEN`"+`, so they hold for
the whole process: two lancedb outputs with different S3 settings are refused. Left empty, the variables already
in the environment (or the AWS default credential chain) apply.

== Metrics

Per table (label `+"`table`"+`): `+"`lancedb_rows`"+`, `+"`lancedb_bytes`"+` (message bytes), `+"`lancedb_adds`"+`,
`+"`lancedb_add_latency_ns`"+`, `+"`lancedb_errors`"+` (failed messages) and `+"`lancedb_index_builds`"+` with
`+"`lancedb_index_build_latency_ns`"+`.
`).
		Fields(
			service.NewStringField(ldbFieldURI).
				Description("The database: a local directory or `s3://bucket/prefix`.").
				Example("/var/lib/lancedb").Example("s3://vectors/rag"),
			service.NewInterpolatedStringField(ldbFieldTable).
				Description("The table each message is written to.").
				Example("documents").Example(`${! meta("danube_topic").split("/").index(2) }`),
			service.NewBoolField(ldbFieldCreateTable).
				Description("Create a missing table from the declared columns.").Default(true),
			service.NewObjectField(ldbFieldID,
				service.NewStringField(ldbFieldName).Description("Column name.").Default("id"),
				service.NewStringField(ldbFieldPath).Description("Dot-separated path of the value in the row; empty: the column name.").Default(""),
				service.NewStringEnumField(ldbFieldType, "string", "int64").Description("Column type.").Default("string"),
			).Description("The id column (required in every row)."),
			service.NewObjectField(ldbFieldVector,
				service.NewStringField(ldbFieldName).Description("Column name.").Default("vector"),
				service.NewStringField(ldbFieldPath).Description("Dot-separated path of the vector in the row; empty: the column name.").Default(""),
				service.NewIntField(ldbFieldDimension).Description("Number of elements of every vector (1 to 4096).").Example(768).Example(1536),
				service.NewStringEnumField(ldbFieldElementType, "float32", "float16").Description("Element type stored in the table.").Default("float32"),
			).Description("The vector column (a fixed-size list, required in every row)."),
			service.NewObjectListField(ldbFieldColumns,
				service.NewStringField(ldbFieldName).Description("Column name."),
				service.NewStringField(ldbFieldPath).Description("Dot-separated path of the value in the row; empty: the column name.").Default(""),
				service.NewStringAnnotatedEnumField(ldbFieldType, map[string]string{
					"string":    "A JSON string.",
					"int32":     "An integral JSON number.",
					"int64":     "An integral JSON number.",
					"float32":   "A JSON number.",
					"float64":   "A JSON number.",
					"bool":      "true or false.",
					"timestamp": "An RFC 3339 string or integer epoch milliseconds (microseconds, UTC, in a created table).",
					"json":      "Any JSON value, stored as compact JSON text in a string column (free-form metadata).",
				}).Description("Column type."),
				service.NewBoolField(ldbFieldRequired).Description("A missing or null value fails the message.").Default(false),
			).Description("Text and metadata columns.").Default([]any{}).
				Example([]any{
					map[string]any{"name": "text", "type": "string"},
					map[string]any{"name": "source", "path": "meta.source", "type": "string"},
					map[string]any{"name": "metadata", "path": "meta", "type": "json"},
				}),
			sinkspec.PayloadFormatField(),
			service.NewStringAnnotatedEnumField(ldbFieldVectorEncoding, map[string]string{
				"json":       "A JSON array of numbers.",
				"base64_f32": "A JSON string: standard base64 of the elements as little-endian float32. Several times cheaper to parse.",
			}).Description("How rows carry the vector.").Default("json"),
			service.NewObjectField(ldbFieldIndex,
				service.NewStringEnumField(ldbFieldType, indexTypeNames()...).Description("Vector index type (LanceDB's default parameters).").Default(string(lancestore.IndexIVFPQ)),
				service.NewIntField(ldbFieldIndexMinRows).Description("Build the index once a table holds this many rows; 0 never builds one.").Default(0),
			).Description("Optional vector index, built once per table in the background.").Advanced(),
			service.NewObjectField(ldbFieldS3,
				service.NewStringField(ldbFieldS3Region).Description("AWS region.").Default(""),
				service.NewStringField(ldbFieldS3Endpoint).Description("A custom S3 endpoint (MinIO); `http://` allows plain HTTP.").Default("").Example("http://127.0.0.1:9000"),
				service.NewStringField(ldbFieldS3AccessKeyID).Description("Access key id.").Default(""),
				service.NewStringField(ldbFieldS3SecretAccessKey).Description("Secret access key.").Default("").Secret(),
				service.NewStringField(ldbFieldS3SessionToken).Description("Session token.").Default("").Secret(),
			).Description("S3 settings for `s3://` URIs, applied to the whole process (see Concurrency and storage).").Advanced(),
			service.NewIntField(ldbFieldMaxOpenTables).Description("Open table handles kept; the least recently used is closed beyond this.").Default(16).Advanced(),
			service.NewOutputMaxInFlightField().Default(ldbDefaultMaxInFlight),
			service.NewBatchPolicyField(ldbFieldBatching).
				Description("Allows you to configure a batching policy. Left out (no field set), it is `count: 10000`, `byte_size: 8388608` and `period: 1s`: every add creates a table version (see Batching and table versions)."),
		).
		LintRule(`root = if this.vector.dimension.or(0) < 1 || this.vector.dimension.or(0) > 4096 { [ "vector.dimension must be 1 to 4096" ] }`).
		Example("Document chunks into a local table", "Embeddings from a Danube topic, one chunk per message, with a vector index after 100,000 rows.", `
input:
  danube:
    url: http://127.0.0.1:6650
    topics: [ /default/chunks ]
    subscription: lancedb-writer
output:
  lancedb:
    uri: /var/lib/lancedb
    table: chunks
    id: { name: id, type: string }
    vector: { name: vector, path: embedding, dimension: 768 }
    columns:
      - { name: text, type: string, required: true }
      - { name: source, path: meta.source, type: string }
      - { name: metadata, path: meta, type: json }
    index: { type: ivf_pq, min_rows: 100000 }
`).
		Example("Batches of base64 vectors on S3", "Producers send 1,000 rows per message as NDJSON with base64 float32 vectors.", `
output:
  lancedb:
    uri: s3://vectors/rag
    table: '${! meta("danube_topic").split("/").index(2) }'
    vector: { dimension: 1536 }
    columns: [ { name: text, type: string } ]
    payload_format: ndjson
    vector_encoding: base64_f32
    s3:
      region: eu-west-1
      access_key_id: ${AWS_ACCESS_KEY_ID}
      secret_access_key: ${AWS_SECRET_ACCESS_KEY}
`)
}

func indexTypeNames() []string {
	out := make([]string, len(lancestore.IndexTypes))
	for i, t := range lancestore.IndexTypes {
		out[i] = string(t)
	}
	return out
}

func init() {
	service.MustRegisterBatchOutput("lancedb", ldbSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (out service.BatchOutput, policy service.BatchPolicy, maxInFlight int, err error) {
			if maxInFlight, err = conf.FieldMaxInFlight(); err != nil {
				return
			}
			if policy, err = ldbBatchPolicy(conf); err != nil {
				return
			}
			var c ldbConfig
			if c, err = ldbConfigFromParsed(conf); err != nil {
				return
			}
			if !lancestore.Built {
				err = lancestore.ErrNotBuilt
				return
			}
			out, err = newLanceDBOutput(c, maxInFlight, mgr)
			return
		})
}

// ldbBatchPolicy reads the batching field; left out (all of its fields at
// their zero defaults), it is count 10000 / 8 MiB / period 1s.
func ldbBatchPolicy(conf *service.ParsedConfig) (service.BatchPolicy, error) {
	policy, err := conf.FieldBatchPolicy(ldbFieldBatching)
	if err != nil {
		return policy, err
	}
	if policy.IsNoop() && policy.Count == 0 {
		policy.Count = ldbDefaultBatchCount
		policy.ByteSize = ldbDefaultBatchByteSize
		policy.Period = ldbDefaultBatchPeriod
	}
	return policy, nil
}

// ldbConfig is the parsed lancedb output configuration.
type ldbConfig struct {
	table  *service.InterpolatedString
	format jsonrows.Format
	store  lancestore.Options
}

func ldbConfigFromParsed(conf *service.ParsedConfig) (c ldbConfig, err error) {
	o := &c.store
	if o.URI, err = conf.FieldString(ldbFieldURI); err != nil {
		return
	}
	if o.URI == "" {
		return c, fmt.Errorf("%s is empty", ldbFieldURI)
	}
	if c.table, err = conf.FieldInterpolatedString(ldbFieldTable); err != nil {
		return
	}
	if o.CreateMissing, err = conf.FieldBool(ldbFieldCreateTable); err != nil {
		return
	}
	if c.format, err = sinkspec.PayloadFormatFromParsed(conf); err != nil {
		return
	}
	s := &o.Schema
	if s.ID, err = columnFromParsed(conf.Namespace(ldbFieldID)); err != nil {
		return c, fmt.Errorf("%s: %w", ldbFieldID, err)
	}
	vc := conf.Namespace(ldbFieldVector)
	if s.Vector.Name, err = vc.FieldString(ldbFieldName); err != nil {
		return
	}
	if s.Vector.Path, err = vc.FieldString(ldbFieldPath); err != nil {
		return
	}
	if s.Vector.Dimension, err = vc.FieldInt(ldbFieldDimension); err != nil {
		return
	}
	var str string
	if str, err = vc.FieldString(ldbFieldElementType); err != nil {
		return
	}
	if s.Vector.Element, err = lancerows.ParseElement(str); err != nil {
		return
	}
	if str, err = conf.FieldString(ldbFieldVectorEncoding); err != nil {
		return
	}
	if s.Vector.Encoding, err = lancerows.ParseEncoding(str); err != nil {
		return
	}
	cols, err := conf.FieldObjectList(ldbFieldColumns)
	if err != nil {
		return
	}
	for i, cc := range cols {
		col, cerr := columnFromParsed(cc)
		if cerr != nil {
			return c, fmt.Errorf("%s[%d]: %w", ldbFieldColumns, i, cerr)
		}
		if col.Required, err = cc.FieldBool(ldbFieldRequired); err != nil {
			return
		}
		s.Columns = append(s.Columns, col)
	}
	if err = s.Validate(); err != nil {
		return
	}
	ic := conf.Namespace(ldbFieldIndex)
	if str, err = ic.FieldString(ldbFieldType); err != nil {
		return
	}
	o.Index.Type = lancestore.IndexType(str)
	var minRows int
	if minRows, err = ic.FieldInt(ldbFieldIndexMinRows); err != nil {
		return
	}
	if minRows < 0 {
		return c, fmt.Errorf("%s.%s is negative", ldbFieldIndex, ldbFieldIndexMinRows)
	}
	o.Index.MinRows = int64(minRows)
	sc := conf.Namespace(ldbFieldS3)
	for field, dst := range map[string]*string{
		ldbFieldS3Region: &o.S3.Region, ldbFieldS3Endpoint: &o.S3.Endpoint, ldbFieldS3AccessKeyID: &o.S3.AccessKeyID,
		ldbFieldS3SecretAccessKey: &o.S3.SecretAccessKey, ldbFieldS3SessionToken: &o.S3.SessionToken,
	} {
		if *dst, err = sc.FieldString(field); err != nil {
			return
		}
	}
	if o.MaxOpenTables, err = conf.FieldInt(ldbFieldMaxOpenTables); err != nil {
		return
	}
	if o.MaxOpenTables < 1 {
		return c, fmt.Errorf("%s must be at least 1", ldbFieldMaxOpenTables)
	}
	return c, nil
}

func columnFromParsed(conf *service.ParsedConfig) (col lancerows.Column, err error) {
	if col.Name, err = conf.FieldString(ldbFieldName); err != nil {
		return
	}
	if col.Path, err = conf.FieldString(ldbFieldPath); err != nil {
		return
	}
	var t string
	if t, err = conf.FieldString(ldbFieldType); err != nil {
		return
	}
	col.Type, err = lancerows.ParseType(t)
	return
}

type ldbOutput struct {
	conf  ldbConfig
	log   *service.Logger
	store *lancestore.Store
	mem   *lancerows.Recycler // record buffers, reused across batches

	mRows, mBytes, mAdds, mErrors *service.MetricCounter
	mAddLatency                   *service.MetricTimer
	mIndexBuilds                  *service.MetricCounter
	mIndexLatency                 *service.MetricTimer
}

func newLanceDBOutput(c ldbConfig, maxInFlight int, mgr *service.Resources) (*ldbOutput, error) {
	m := mgr.Metrics()
	o := &ldbOutput{
		conf: c,
		log:  mgr.Logger(),
		// Each batch in flight holds a vector buffer and a few large column
		// buffers; keeping about that many bounds what sits idle.
		mem:           lancerows.NewRecycler(2*maxInFlight + 2),
		mRows:         m.NewCounter("lancedb_rows", "table"),
		mBytes:        m.NewCounter("lancedb_bytes", "table"),
		mAdds:         m.NewCounter("lancedb_adds", "table"),
		mErrors:       m.NewCounter("lancedb_errors", "table"),
		mAddLatency:   m.NewTimer("lancedb_add_latency_ns", "table"),
		mIndexBuilds:  m.NewCounter("lancedb_index_builds", "table", "result"),
		mIndexLatency: m.NewTimer("lancedb_index_build_latency_ns", "table"),
	}
	o.conf.store.OnIndex = o.indexBuilt
	return o, nil
}

func (o *ldbOutput) indexBuilt(table string, took time.Duration, err error) {
	o.mIndexLatency.Timing(took.Nanoseconds(), table)
	if err != nil {
		o.mIndexBuilds.Incr(1, table, "error")
		o.log.Errorf("lancedb: building the %s index of table %s failed after %v (retried after %d more rows): %v",
			o.conf.store.Index.Type, table, took, o.conf.store.Index.MinRows, err)
		return
	}
	o.mIndexBuilds.Incr(1, table, "ok")
	o.log.Infof("lancedb: built the %s index of table %s in %v", o.conf.store.Index.Type, table, took)
}

func (o *ldbOutput) Connect(ctx context.Context) error {
	if o.store != nil {
		return nil
	}
	store, err := lancestore.Open(ctx, o.conf.store)
	if err != nil {
		return fmt.Errorf("connecting to LanceDB at %s: %w", o.conf.store.URI, err)
	}
	if err := store.Ping(ctx); err != nil {
		_ = store.Close(ctx)
		return err
	}
	o.store = store
	return nil
}

// tableBatch is the part of a batch that goes to one table.
type tableBatch struct {
	name    string
	table   *lancestore.Table
	builder *lancerows.Builder
	msgs    []int
	bytes   int64
	err     error // the table could not be opened
}

func (o *ldbOutput) WriteBatch(ctx context.Context, batch service.MessageBatch) error {
	if o.store == nil {
		return service.ErrNotConnected
	}
	var berr *service.BatchError
	fail := func(i int, table string, err error) {
		if berr == nil {
			berr = service.NewBatchError(batch, err)
		}
		berr.Failed(i, err)
		o.mErrors.Incr(1, table)
	}
	tables := map[string]*tableBatch{}
	var order []*tableBatch
	defer func() {
		for _, tb := range order {
			if tb.table != nil {
				tb.builder.Release()
				o.store.Release(tb.table)
			}
		}
	}()
	for i, msg := range batch {
		name, err := batch.TryInterpolatedString(i, o.conf.table)
		if err == nil && name == "" {
			err = errors.New("empty table name")
		}
		if err != nil {
			fail(i, "", fmt.Errorf("message %d: table interpolation: %w", i, err))
			continue
		}
		tb := tables[name]
		if tb == nil {
			tb = &tableBatch{name: name}
			if tb.table, tb.err = o.store.Acquire(ctx, name); tb.err == nil {
				tb.builder = lancerows.NewBuilder(tb.table.Layout(), o.conf.format, o.mem)
				if len(tables) == 0 { // most batches go to one table: size its buffers once
					tb.builder.Reserve(len(batch) - i)
				}
			}
			tables[name] = tb
			order = append(order, tb)
		}
		if tb.err != nil {
			fail(i, name, fmt.Errorf("message %d: %w", i, tb.err))
			continue
		}
		payload, err := msg.AsBytes()
		if err == nil {
			_, err = tb.builder.Append(payload)
		}
		if err != nil {
			fail(i, name, fmt.Errorf("table %s, message %d: %w", name, i, err))
			continue
		}
		tb.msgs = append(tb.msgs, i)
		tb.bytes += int64(len(payload))
	}
	for _, tb := range order {
		if tb.err != nil || len(tb.msgs) == 0 {
			continue
		}
		rec := tb.builder.NewRecord()
		start := time.Now()
		err := o.store.Add(ctx, tb.table, rec)
		rows := rec.NumRows()
		rec.Release()
		if err != nil {
			err = fmt.Errorf("table %s: adding %d rows of %d messages: %w", tb.name, rows, len(tb.msgs), err)
			for _, i := range tb.msgs {
				fail(i, tb.name, err)
			}
			continue
		}
		o.mAddLatency.Timing(time.Since(start).Nanoseconds(), tb.name)
		o.mAdds.Incr(1, tb.name)
		o.mRows.Incr(rows, tb.name)
		o.mBytes.Incr(tb.bytes, tb.name)
	}
	if berr == nil {
		return nil
	}
	return berr
}

func (o *ldbOutput) Close(ctx context.Context) error {
	if o.store == nil {
		return nil
	}
	err := o.store.Close(ctx)
	o.store = nil
	o.mem.Close() // the kept buffers; any still in use are unmapped when freed
	return err
}
