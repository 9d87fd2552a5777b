package tablewriter

import (
	"context"
	"time"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/jsonrows"
)

// Config is everything a Writer needs; the caller (the delta_lake output)
// validates it and fills in the defaults.
type Config struct {
	// OpenStore opens the object store rooted at a table location.
	OpenStore func(ctx context.Context, location string) (objstore.Store, error)
	// MaxOpenTables bounds the tables kept open (least recently used ones
	// are closed first).
	MaxOpenTables int
	// PartitionBy lists the partition columns of tables this writer
	// creates; an existing table must have the same ones.
	PartitionBy []string
	// PartitionsFromCaller says that Message.PartitionValues carries the
	// partition values (a partition mapping); otherwise they are read from
	// the rows.
	PartitionsFromCaller bool
	// Schema is a Delta schema (JSON) for tables this writer creates;
	// empty infers it from the first rows.
	Schema string
	// SchemaEvolution adds new top-level and nested fields to the table.
	SchemaEvolution bool
	// PayloadFormat frames the rows of a message.
	PayloadFormat jsonrows.Format
	// Compression is the Parquet codec (parquetfile.Compression*).
	Compression string
	// TargetFileSize seals a flush and rolls data files at this size.
	TargetFileSize int64
	// FlushPeriod seals a flush at the latest this long after its first row.
	FlushPeriod time.Duration
	// MaxBufferedBytes seals flushes once this many message bytes are
	// buffered over all tables; writes wait at twice this much.
	MaxBufferedBytes int64
	// Meta*Column name the columns filled from Message.Extras, in this
	// order; empty means no such column.
	MetaTopicColumn, MetaOffsetColumn, MetaPublishColumn string
	// CheckpointEvery writes a checkpoint every so many versions; 0 never.
	CheckpointEvery int
	// WriterID names this writer in commits and transaction ids; empty
	// picks a random one.
	WriterID string
	// ExactlyOnce records message offsets in commits and skips offsets
	// already committed.
	ExactlyOnce bool
	// HistoryCommits and HistoryPeriod bound the commits read at start-up
	// to rebuild the committed offsets.
	HistoryCommits int
	HistoryPeriod  time.Duration
	// MaxInFlight is the number of concurrent Write calls expected: when
	// half of them wait on a flush it is committed at once.
	MaxInFlight int
	Optimize    OptimizeConfig
	Vacuum      VacuumConfig
	// OnCommit, when set, is told about every commit (from the goroutine
	// that committed; it must not block).
	OnCommit func(CommitStats)
}

// CommitStats describes one commit: Latency runs from the first buffered
// row to the durable commit; Commit from sealing the flush to the commit,
// split into Queued (waiting for earlier flushes), Refresh (reading new
// commits), Write (data files) and Log (the commit itself).
type CommitStats struct {
	Table                                        string
	Version, Rows                                int64
	Files                                        int
	Latency, Commit, Queued, Refresh, Write, Log time.Duration
}

// OptimizeConfig schedules compaction of small files.
type OptimizeConfig struct {
	Enabled        bool
	Interval       time.Duration
	TargetFileSize int64
	MinFiles       int
}

// VacuumConfig schedules deletion of unreferenced data files.
type VacuumConfig struct {
	Enabled   bool
	Interval  time.Duration
	Retention time.Duration
}

// Logger is the logging the writer does; *service.Logger of Benthos fits.
type Logger interface {
	Debugf(format string, v ...any)
	Infof(format string, v ...any)
	Warnf(format string, v ...any)
	Errorf(format string, v ...any)
}

// Counter, Timer and Gauge are the metric kinds the writer reports; the
// Benthos metric types fit.
type (
	Counter interface {
		Incr(n int64, labelValues ...string)
	}
	Timer interface {
		Timing(ns int64, labelValues ...string)
	}
	Gauge interface {
		Set(v int64, labelValues ...string)
	}
)

// Metrics are the writer's metrics. Nil members are not reported.
type Metrics struct {
	Rows, Bytes, Files, Commits, Conflicts, Errors, Duplicates Counter
	CommitLatency                                              Timer
	Buffered                                                   Gauge
}

type nopMetric struct{}

func (nopMetric) Incr(int64, ...string)   {}
func (nopMetric) Timing(int64, ...string) {}
func (nopMetric) Set(int64, ...string)    {}

func (m Metrics) withDefaults() Metrics {
	for _, c := range []*Counter{&m.Rows, &m.Bytes, &m.Files, &m.Commits, &m.Conflicts, &m.Errors, &m.Duplicates} {
		if *c == nil {
			*c = nopMetric{}
		}
	}
	if m.CommitLatency == nil {
		m.CommitLatency = nopMetric{}
	}
	if m.Buffered == nil {
		m.Buffered = nopMetric{}
	}
	return m
}

type nopLogger struct{}

func (nopLogger) Debugf(string, ...any) {}
func (nopLogger) Infof(string, ...any)  {}
func (nopLogger) Warnf(string, ...any)  {}
func (nopLogger) Errorf(string, ...any) {}
