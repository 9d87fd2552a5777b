package deltalake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"golang.org/x/sync/errgroup"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/jsonrows"
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
		var inf jsonrows.Inferrer
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
	// The loser of a creation race opens the winner's table, provided its
	// partition columns match and its schema merges with ours.
	table, created, err := delta.OpenOrCreate(ctx, tw.store, delta.CreateOptions{
		Schema:           schema,
		PartitionColumns: append([]string{}, c.partitionBy...),
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("creating table %s: %w", tw.path, err)
	}
	if created {
		tw.o.log.Infof("Created Delta table %s (partitioned by %v)", tw.path, c.partitionBy)
	}
	return table, nil
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
