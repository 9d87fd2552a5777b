package deltalake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/uuid"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/jsonparquet"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// create creates the table (version 0: protocol, metaData, commitInfo)
// with the configured schema, or one inferred from the sample rows (the
// first batch routed to the table). When another writer creates it first,
// its table is used if compatible.
func (tw *tableWriter) create(ctx context.Context, sample [][]byte, opts delta.TableOptions) (*delta.Table, error) {
	c := tw.o.conf
	var schema *delta.StructType
	var err error
	if c.schema != "" {
		if schema, err = delta.ParseSchema([]byte(c.schema)); err != nil {
			return nil, fmt.Errorf("parsing field %s: %w", dlFieldSchema, err)
		}
	} else {
		var inf jsonparquet.Inferrer
		for _, row := range sample {
			// Rows that cannot be inferred fail later, one by one, in decoding.
			_ = inf.Add(row)
		}
		inferred := inf.Schema()
		if len(inferred.Fields()) == 0 {
			return nil, errors.New("cannot infer a schema: no row of the first batch is a JSON object with a non-null field; set field schema")
		}
		if schema, err = delta.FromArrow(inferred); err != nil {
			return nil, fmt.Errorf("inferring schema: %w", err)
		}
	}
	// Partition columns set by partition_mapping (or absent from the
	// sample) are strings.
	for _, col := range c.partitionBy {
		if schema.Field(col) == nil {
			schema.Fields = append(schema.Fields, &delta.StructField{Name: col, Type: &delta.PrimitiveType{Name: "string"}, Nullable: true})
		}
	}
	arrowSchema, err := delta.ToArrow(schema)
	if err != nil {
		return nil, err
	}
	if extra := tw.metadataFields(arrowSchema); len(extra) > 0 {
		arrowSchema = arrow.NewSchema(append(append([]arrow.Field(nil), arrowSchema.Fields()...), extra...), nil)
		if schema, err = delta.FromArrow(arrowSchema); err != nil {
			return nil, err
		}
	}
	// Version 0 is written here rather than with delta.OpenOrCreate because
	// its commitInfo carries readVersion -1, which delta-rs refuses to parse
	// in history() ("expected u64").
	partCols := append([]string{}, c.partitionBy...)
	now := time.Now().UnixMilli()
	proto := delta.ProtocolForSchema(schema)
	md := &delta.Metadata{
		ID:               uuid.NewString(),
		Format:           delta.Format{Provider: "parquet", Options: map[string]string{}},
		SchemaString:     schema.String(),
		PartitionColumns: partCols,
		Configuration:    map[string]string{},
		CreatedTime:      &now,
	}
	if err := delta.CheckWriteSupport(proto, md); err != nil {
		return nil, fmt.Errorf("creating table %s: %w", tw.path, err)
	}
	partJSON, _ := json.Marshal(partCols)
	blind := false
	data, err := delta.EncodeActions([]delta.Action{
		{CommitInfo: &delta.CommitInfo{
			Timestamp:           now,
			Operation:           "CREATE TABLE",
			OperationParameters: map[string]any{"mode": "ErrorIfExists", "partitionBy": string(partJSON)},
			IsBlindAppend:       &blind,
			EngineInfo:          opts.EngineInfo,
		}},
		{Protocol: &proto},
		{Metadata: md},
	})
	if err != nil {
		return nil, err
	}
	err = tw.store.PutIfAbsent(ctx, delta.CommitKey(0), data)
	switch {
	case err == nil:
		tw.o.log.Infof("Created Delta table %s (partitioned by %v)", tw.path, partCols)
	case errors.Is(err, objstore.ErrExists):
		// Another writer created it first: use theirs.
	default:
		return nil, fmt.Errorf("creating table %s: %w", tw.path, err)
	}
	return delta.Open(ctx, tw.store, opts)
}

// loadHistory rebuilds the committed Danube offsets from the most recent
// commits: at most history_commits versions, and none older than
// history_period. Commits already folded into a checkpoint whose JSON files
// were cleaned up end the scan early.
func (tw *tableWriter) loadHistory(ctx context.Context) error {
	c := tw.o.conf
	latest := tw.table.Version()
	oldest := max(0, latest-int64(c.historyCommits)+1)
	cutoff := time.Now().Add(-c.historyPeriod).UnixMilli()
	read := 0
	for v := latest; v >= oldest; v-- {
		e, err := delta.ReadCommit(ctx, tw.store, v)
		if errors.Is(err, objstore.ErrNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading recent commits for exactly-once: %w", err)
		}
		if ci := e.CommitInfo(); ci != nil && ci.Timestamp > 0 && ci.Timestamp < cutoff {
			break
		}
		tw.ledger.Observe(v, commitOffsets(e))
		read++
	}
	tw.o.log.Debugf("Table %s: rebuilt committed Danube offsets from %d commits (%d ranges)", tw.path, read, tw.ledger.Ranges())
	return nil
}
