package diskbuffer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/diskbuffer/diskqueue"
)

const (
	dbFieldPath            = "path"
	dbFieldMaxBytes        = "max_bytes"
	dbFieldReadMaxMessages = "read_max_messages"
	dbFieldReadMaxBytes    = "read_max_bytes"
	dbFieldRedeliveryDelay = "redelivery_delay"
	dbFieldLockTimeout     = "lock_timeout"
)

func diskBufferSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Utility").
		Version("0.1.0").
		Summary("Stores messages durably in a local directory and acknowledges them to the input as soon as they are on disk; the output side reads them from there.").
		Description(`
Every batch the input delivers is written, payload and all metadata with their types, to two Pebble stores
(`+"`shard-0/`"+`, `+"`shard-1/`"+`) in `+"`path`"+`. Writes are group-committed: whatever batches are waiting when a
commit starts share one write-ahead log record and its fdatasync, and the input's acknowledgement of each batch follows
the commit that made it durable. The two stores are committed in parallel, so batches arriving while one store syncs go
to the other at once. Batches carry one sequence number across the stores and are read back in that order.
The output side reads the stored batches in order, several stored batches at a time (up to `+"`read_max_messages`"+` and
`+"`read_max_bytes`"+`, never splitting a stored batch), and a batch is deleted only when the output acknowledges it.

The buffer holds at most `+"`max_bytes`"+` of stored batches (their encoded size; the stores on disk are somewhat larger,
and background compaction reclaims the space of acknowledged batches). When it is full the input waits until the output
has acknowledged enough to make room.

== When to use it

In front of outputs that acknowledge slowly or in large batches, behind inputs that allow only a few unacknowledged
messages. The `+"`danube`"+` input is such an input: a v0.15.1 broker lets a subscription hold at most 10 unacknowledged
messages, so a pipeline that acknowledges only after its sink commits (a `+"`delta_lake`"+` output with `+"`flush_period: 1s`"+`)
consumes at most about 10 messages per second per subscription, and a subscription that lags far enough behind its
producers has messages skipped by the broker. With this buffer the input's messages are acknowledged once they are on
the local disk, so the broker's window is released after a commit of a few milliseconds, and the sink still receives
large batches. The Danube metadata (`+"`danube_topic`"+`, `+"`danube_offset`"+`, ...) is kept, so `+"`delta_lake`"+` still
writes every Danube message exactly once.

It is not needed when the output acknowledges quickly anyway, and it adds a local disk as a place where data lives:
give every pipeline its own `+"`path`"+` on a persistent volume.

== Delivery guarantees

An input's batch is acknowledged only after it was fsynced (a failed commit negatively acknowledges it). A stored batch
stays on disk until the output acknowledges it; when the output rejects it, it is handed out again after
`+"`redelivery_delay`"+` while later batches continue (so order is kept except around failures). A batch read from the
buffer is acknowledged as a whole: when the output rejects some of its messages, all of them are handed out again, so
the accepted ones are delivered twice (`+"`delta_lake`"+` recognises Danube messages it already committed). A graceful shutdown first
commits everything already accepted, then hands the remaining batches to the output until the buffer is empty or the
shutdown timeout ends; what is left stays on disk. After a restart, including after a kill -9 or a power loss, every
batch not acknowledged by the output is read again, so delivery is at least once: duplicates are possible only for
batches that the output had received but whose acknowledgement was not yet committed to the buffer at the time of the
crash. A process that finds the directory in use by another fails at start with an error naming the directory.

When the input ends (a finite input), the buffer ends the stream once every stored batch was read and acknowledged.

== Metrics

Gauges `+"`disk_buffer_depth_messages`"+` and `+"`disk_buffer_depth_bytes`"+` (stored and waiting to be committed, read or
not); counters `+"`disk_buffer_written`"+` (messages made durable), `+"`disk_buffer_read`"+`, `+"`disk_buffer_acked`"+`,
`+"`disk_buffer_nacked`"+` (messages), `+"`disk_buffer_commits`"+` and `+"`disk_buffer_errors`"+`; timer
`+"`disk_buffer_commit_latency_ns`"+` (one group commit, its fdatasync included).
`).
		Fields(
			service.NewStringField(dbFieldPath).
				Description("Directory of the buffer, created if missing. One pipeline per directory; a second process fails to open it.").
				Example("/var/lib/danube-connect/buffer/events-to-lake"),
			service.NewStringField(dbFieldMaxBytes).
				Description("Most bytes of stored messages (payload and metadata, encoded); the input waits when the buffer is full. A batch larger than this is rejected.").
				Default("1GiB").Example("256MiB"),
			service.NewIntField(dbFieldReadMaxMessages).
				Description("Most messages handed to the output in one batch: consecutive stored batches are read together up to this count (a larger stored batch is read alone).").
				Default(1000).Advanced().
				LintRule(`root = if this < 1 { "read_max_messages must be at least 1" }`),
			service.NewStringField(dbFieldReadMaxBytes).
				Description("Most bytes handed to the output in one batch (a larger stored batch is read alone).").
				Default("4MiB").Advanced(),
			service.NewDurationField(dbFieldRedeliveryDelay).
				Description("How long a batch the output rejected waits before it is handed out again.").
				Default("1s").Advanced(),
			service.NewDurationField(dbFieldLockTimeout).
				Description("How long to wait at start for another process to release the directory before failing.").
				Default("1s").Advanced(),
		).
		LintRule(`root = if this.path.or("").trim() == "" { "path must name a directory" }`).
		Example("Danube into Delta Lake",
			"Decouple the broker's window of 10 unacknowledged messages from the Delta commits: the input is acknowledged once messages are on local disk, the output still writes exactly once.", `
input:
  danube:
    url: http://127.0.0.1:6650
    topics: [ /default/events ]
    subscription: lake-writer
    subscription_type: exclusive
buffer:
  disk:
    path: /var/lib/danube-connect/buffer/lake-writer
    max_bytes: 2GiB
output:
  delta_lake:
    path: s3://lake/events
    flush_period: 1s
    batching:
      count: 2000
      period: 50ms
`).
		Example("Absorb bursts in front of a slow HTTP sink",
			"The webhook server answers its callers as soon as events are on disk; the sink is fed at its own pace.", `
input:
  webhook_server:
    address: 0.0.0.0:8080
    path: /events
buffer:
  disk:
    path: ./data/buffer/events
output:
  http_client:
    url: https://example.com/ingest
    verb: POST
`)
}

func init() {
	service.MustRegisterBatchBuffer("disk", diskBufferSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchBuffer, error) {
			c, err := diskBufferConfigFromParsed(conf)
			if err != nil {
				return nil, err
			}
			return newDiskBuffer(c, mgr)
		})
}

type diskBufferConfig struct {
	queue           diskqueue.Options
	readMaxMessages int
	readMaxBytes    int64
	redeliveryDelay time.Duration
}

func diskBufferConfigFromParsed(conf *service.ParsedConfig) (c diskBufferConfig, err error) {
	if c.queue.Dir, err = conf.FieldString(dbFieldPath); err != nil {
		return c, err
	}
	if c.queue.Dir == "" {
		return c, fmt.Errorf("%s: must name a directory", dbFieldPath)
	}
	if c.queue.MaxBytes, err = sizeField(conf, dbFieldMaxBytes); err != nil {
		return c, err
	}
	if c.readMaxMessages, err = conf.FieldInt(dbFieldReadMaxMessages); err != nil {
		return c, err
	}
	if c.readMaxMessages < 1 {
		return c, fmt.Errorf("%s: must be at least 1, got %d", dbFieldReadMaxMessages, c.readMaxMessages)
	}
	if c.readMaxBytes, err = sizeField(conf, dbFieldReadMaxBytes); err != nil {
		return c, err
	}
	if c.redeliveryDelay, err = conf.FieldDuration(dbFieldRedeliveryDelay); err != nil {
		return c, err
	}
	if c.queue.LockTimeout, err = conf.FieldDuration(dbFieldLockTimeout); err != nil {
		return c, err
	}
	return c, nil
}

func sizeField(conf *service.ParsedConfig, field string) (int64, error) {
	s, err := conf.FieldString(field)
	if err != nil {
		return 0, err
	}
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a size (e.g. 512MiB): %w", field, s, err)
	}
	if n == 0 || n > 1<<50 {
		return 0, fmt.Errorf("%s: %q is out of range", field, s)
	}
	return int64(n), nil
}

type diskBuffer struct {
	q    *diskqueue.Queue
	conf diskBufferConfig
	log  *service.Logger

	mDepthMessages *service.MetricGauge
	mDepthBytes    *service.MetricGauge
	mWritten       *service.MetricCounter
	mRead          *service.MetricCounter
	mAcked         *service.MetricCounter
	mNacked        *service.MetricCounter
	mCommits       *service.MetricCounter
	mErrors        *service.MetricCounter
	mCommitLatency *service.MetricTimer
}

func newDiskBuffer(c diskBufferConfig, mgr *service.Resources) (*diskBuffer, error) {
	m := mgr.Metrics()
	d := &diskBuffer{
		conf:           c,
		log:            mgr.Logger(),
		mDepthMessages: m.NewGauge("disk_buffer_depth_messages"),
		mDepthBytes:    m.NewGauge("disk_buffer_depth_bytes"),
		mWritten:       m.NewCounter("disk_buffer_written"),
		mRead:          m.NewCounter("disk_buffer_read"),
		mAcked:         m.NewCounter("disk_buffer_acked"),
		mNacked:        m.NewCounter("disk_buffer_nacked"),
		mCommits:       m.NewCounter("disk_buffer_commits"),
		mErrors:        m.NewCounter("disk_buffer_errors"),
		mCommitLatency: m.NewTimer("disk_buffer_commit_latency_ns"),
	}
	opts := c.queue
	opts.OnCommit = d.onCommit
	q, err := diskqueue.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("disk buffer at %s: %w", c.queue.Dir, err)
	}
	d.q = q
	st := q.Stats()
	if st.Entries > 0 {
		d.log.Infof("Disk buffer %s holds %d messages (%s) from a previous run; they are delivered first", q.Dir(), st.Records, humanize.IBytes(uint64(st.Bytes)))
	}
	d.setDepth(st)
	return d, nil
}

func (d *diskBuffer) setDepth(st diskqueue.Stats) {
	d.mDepthMessages.Set(int64(st.Records))
	d.mDepthBytes.Set(st.Bytes)
}

func (d *diskBuffer) onCommit(c diskqueue.Commit) {
	d.mCommits.Incr(1)
	d.mCommitLatency.Timing(c.Duration.Nanoseconds())
	if c.Err != nil {
		d.mErrors.Incr(1)
		d.log.Errorf("Disk buffer commit of %d batches (%d messages) failed, the input is told to redeliver them: %v", c.Appended, c.AppendedRecords, c.Err)
	} else {
		d.mWritten.Incr(int64(c.AppendedRecords))
	}
	d.setDepth(d.q.Stats())
}

func (d *diskBuffer) WriteBatch(ctx context.Context, batch service.MessageBatch, aFn service.AckFunc) error {
	recs := make([]diskqueue.Record, len(batch))
	for i, msg := range batch {
		payload, err := msg.AsBytes()
		if err != nil {
			return fmt.Errorf("disk buffer: message %d: %w", i, err)
		}
		rec := diskqueue.Record{Payload: payload}
		_ = msg.MetaWalkMut(func(k string, v any) error {
			rec.Meta = append(rec.Meta, diskqueue.Meta{Key: k, Value: v})
			return nil
		})
		recs[i] = rec
	}
	err := d.q.Append(ctx, recs, func(err error) {
		// Not on the committing goroutine: an input's ack may be a network call.
		go func() { _ = aFn(context.Background(), err) }()
	})
	if err != nil {
		return fmt.Errorf("disk buffer %s: %w", d.q.Dir(), err)
	}
	return nil
}

func (d *diskBuffer) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	lease, err := d.q.Read(ctx, d.conf.readMaxMessages, d.conf.readMaxBytes)
	if errors.Is(err, diskqueue.ErrDrained) || errors.Is(err, diskqueue.ErrClosed) {
		return nil, nil, service.ErrEndOfBuffer
	}
	if err != nil {
		return nil, nil, err
	}
	batch := make(service.MessageBatch, len(lease.Records))
	for i, r := range lease.Records {
		msg := service.NewMessage(r.Payload)
		for _, m := range r.Meta {
			msg.MetaSetMut(m.Key, m.Value)
		}
		batch[i] = msg
	}
	n := int64(len(batch))
	d.mRead.Incr(n)
	return batch, func(ctx context.Context, err error) error {
		if err != nil {
			d.mNacked.Incr(n)
			return lease.Nack(d.conf.redeliveryDelay)
		}
		if err := lease.Ack(ctx); err != nil {
			d.mErrors.Incr(1)
			return fmt.Errorf("disk buffer %s: removing %d delivered messages (they will be delivered again): %w", d.q.Dir(), n, err)
		}
		d.mAcked.Incr(n)
		return nil
	}, nil
}

func (d *diskBuffer) EndOfInput() { d.q.EndOfInput() }

func (d *diskBuffer) Close(ctx context.Context) error { return d.q.Close(ctx) }
