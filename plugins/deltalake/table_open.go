package deltalake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

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
	// Newest first, a window of commits fetched concurrently at a time
	// (object-store latency dominates), stopping at the first commit that
	// is missing (cleaned up after a checkpoint) or older than the period.
	const window = 16
	for hi := latest; hi >= oldest; hi -= window {
		lo := max(oldest, hi-window+1)
		entries := make([]*delta.CommitEntry, hi-lo+1)
		g, gctx := errgroup.WithContext(ctx)
		for v := lo; v <= hi; v++ {
			g.Go(func() error {
				e, err := delta.ReadCommit(gctx, tw.store, v)
				if errors.Is(err, objstore.ErrNotExist) {
					return nil
				}
				entries[v-lo] = e
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return fmt.Errorf("reading recent commits for exactly-once: %w", err)
		}
		for i := len(entries) - 1; i >= 0; i-- {
			e := entries[i]
			if e == nil {
				tw.o.log.Debugf("Table %s: rebuilt committed Danube offsets from %d commits (%d ranges)", tw.path, read, tw.ledger.Ranges())
				return nil
			}
			if ci := e.CommitInfo(); ci != nil && ci.Timestamp > 0 && ci.Timestamp < cutoff {
				tw.o.log.Debugf("Table %s: rebuilt committed Danube offsets from %d commits (%d ranges)", tw.path, read, tw.ledger.Ranges())
				return nil
			}
			tw.ledger.Observe(e.Version, commitOffsets(e))
			read++
		}
	}
	tw.o.log.Debugf("Table %s: rebuilt committed Danube offsets from %d commits (%d ranges)", tw.path, read, tw.ledger.Ranges())
	return nil
}
