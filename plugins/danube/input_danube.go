package danube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
)

const (
	diFieldTopics           = "topics"
	diFieldSubscription     = "subscription"
	diFieldSubscriptionType = "subscription_type"
	diFieldConsumerName     = "consumer_name"
	diFieldKeyFilters       = "key_filters"
	diFieldNackDelay        = "nack_delay"
	diFieldMaxBatchSize     = "max_batch_size"
	diFieldAckParallelism   = "ack_parallelism"
	diFieldSkippedMessages  = "skipped_messages"
	diFieldSkipReorderCount = "skip_reorder_count"
	diFieldSkipReorderTime  = "skip_reorder_timeout"
	diFieldSkipStartup      = "skip_startup_messages"

	// maxNackReason bounds the error text sent as the nack reason.
	maxNackReason = 256
)

func danubeInputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Consumes messages from one or more Danube topics through a subscription.").
		Description(`
Subscribes to every listed topic and, for a partitioned topic, to each of its `+"`{topic}-part-{N}`"+` partitions,
and merges them into one stream. Messages already waiting in the client are handed to the pipeline together as one
batch of up to `+"`max_batch_size`"+` (the input never waits to fill a batch).

The consumer keeps itself attached: a broken stream, a broker restart or a consumer the broker closed (health check)
leads to a resubscription with the same consumer name, and the broker redelivers what was not acknowledged. Transient
failures (broker unreachable, topic not loaded yet) are retried with the configured backoff for as long as the outage
lasts; when the broker denies the subscription the input reports itself disconnected and Benthos reconnects it.

Subscriptions of type `+"`exclusive`"+` stay bound to the first consumer name they saw, so keep
`+"`consumer_name`"+` stable across restarts (the default, `+"`<hostname>-<subscription>`"+`, is). Give each
input of one process its own name when several read the same subscription. A new subscription on a reliable topic
starts at the newest message.

== Delivery guarantees

What the broker delivers is delivered at least once: a message is acknowledged to the broker only when Benthos
acknowledges it, i.e. after the output has it. When the pipeline rejects a message (an output error, or a processing
error in strict mode), it is negatively acknowledged with `+"`nack_delay`"+` and the error text as reason, and the broker
redelivers it (reliable topics; the broker waits at least its own base redelivery delay, 1 s by default).
Unacknowledged messages are redelivered after a crash or restart. Non-reliable topics do not retain or redeliver
anything.

What the broker does not deliver cannot be recovered by any client. danube-broker v0.15.1 skips messages of a
reliable topic: a subscription created without a saved cursor reads a live feed of the newest 256 messages, and when
its window of unacknowledged messages (10 per subscription, fixed in standalone mode) stays full while more than 256
messages are published, the broker jumps ahead and only logs a warning. The skipped messages are never delivered,
nacked or redelivered. The window also caps throughput: a pipeline whose output takes L to acknowledge a message
consumes at most about 10/L messages per second per subscription, so any sink slower than the producers loses data
on such a broker.

Detection: offsets are contiguous per topic partition, so with `+"`subscription_type`"+` `+"`exclusive`"+` or `+"`failover`"+`
the input tracks them per partition and reports a missing range once `+"`skip_reorder_count`"+` later messages (or
`+"`skip_reorder_timeout`"+`) passed without it, which tolerates the slight reordering the broker shows under
concurrent producers. Redeliveries are not gaps, and the first `+"`skip_startup_messages`"+` of each partition are not
checked (a restarted consumer first gets what an earlier one left unacknowledged). Each confirmed range adds its size to the counter
`+"`danube_input_skipped_messages`"+` (label `+"`topic`"+`) and is logged once as an error naming the topic, subscription
and offsets; `+"`skipped_messages: stop`"+` then halts the input for an operator. The first offset the input sees is
its baseline (a new subscription starts at the newest message). When the offsets start again from a lower value
(a restarted v0.15.1 broker numbers its log from 0) the input logs a warning, counts `+"`danube_input_offset_resets`"+`
and restarts tracking there. `+"`shared`"+` and `+"`key_shared`"+` consumers each see an interleaved subset of the
offsets and cannot detect skips: nothing is reported for them.

Staying ahead of it: acknowledge fast (put the `+"`disk`"+` buffer between this input and a slow or batching sink, so
messages are acknowledged once they are on local disk; keep flush periods short), spread load over a partitioned
topic read with one `+"`exclusive`"+` subscription per partition, and alert on `+"`danube_input_skipped_messages`"+`.

== Metadata

This input adds the following metadata fields to each message:

- danube_topic: the topic, or the partition for a partitioned topic (`+"`/default/t-part-2`"+`)
- danube_offset: the topic offset (reliable topics; 0 on non-reliable ones)
- danube_producer: the producer name
- danube_producer_id: the producer id
- danube_publish_time: publish time in milliseconds since the Unix epoch
- danube_subscription: the subscription name
- danube_routing_key: the routing key, when the producer set one
- danube_schema_id, danube_schema_version: when the message carries a schema reference
- every message attribute, under its own key

You can access these metadata fields using function interpolation.
`).
		Fields(
			dcURLField(),
			service.NewStringListField(diFieldTopics).
				Description("Topics to consume, `/namespace/topic`; a partitioned topic is given by its base name. They must exist.").
				Example([]string{"/default/events"}),
			service.NewStringField(diFieldSubscription).Description("Subscription name."),
			service.NewStringAnnotatedEnumField(diFieldSubscriptionType, map[string]string{
				"exclusive":  "One consumer name only; the first one locks the subscription.",
				"shared":     "Messages are spread round-robin over all consumers.",
				"failover":   "One active consumer, the others stand by.",
				"key_shared": "Each routing key goes to one consumer; `key_filters` restrict the keys a consumer takes.",
			}).Description("How the subscription spreads messages over its consumers. Fixed by the first subscriber.").Default("shared"),
			service.NewStringField(diFieldConsumerName).
				Description("Consumer name, stable across restarts. Empty means `<hostname>-<subscription>`.").
				Default(""),
			service.NewStringListField(diFieldKeyFilters).
				Description("Glob patterns (`*`, `?`) of the routing keys this consumer takes; `key_shared` only.").
				Default([]any{}).Example([]string{"eu-*", "us-east-?"}),
			service.NewDurationField(diFieldNackDelay).
				Description("Redelivery delay requested when the pipeline rejects a message; the broker waits at least its own base delay.").
				Default("1s"),
			service.NewIntField(diFieldMaxBatchSize).
				Description("Most already-received messages handed to the pipeline as one batch.").
				Default(128).Advanced().LintRule(`root = if this < 1 { "max_batch_size must be at least 1" }`),
			service.NewIntField(diFieldAckParallelism).
				Description("Number of long-lived workers sending the Ack/Nack RPCs of acknowledged batches (a batch of one is settled directly).").
				Default(32).Advanced(),
			service.NewStringAnnotatedEnumField(diFieldSkippedMessages, map[string]string{
				"warn": "Count the skipped messages, log the missing range as an error and keep consuming.",
				"stop": "Also stop consuming: the input reports itself disconnected (failing `/ready`) and every further connection attempt fails with an error naming the missing range, until the pipeline is restarted.",
			}).Description("What to do when the broker skipped messages (`exclusive` and `failover` subscriptions only; see Delivery guarantees).").
				Default("warn"),
			service.NewIntField(diFieldSkipReorderCount).
				Description("A missing offset is reported as skipped once this many later messages of its partition arrived without it (the broker can deliver a few messages out of order under concurrent producers).").
				Default(client.DefaultGapReorderCount).Advanced().
				LintRule(`root = if this < 1 { "skip_reorder_count must be at least 1" }`),
			service.NewDurationField(diFieldSkipReorderTime).
				Description("A missing offset that no later message follows is reported as skipped after this long.").
				Default(client.DefaultGapReorderTimeout.String()).Advanced(),
			service.NewIntField(diFieldSkipStartup).
				Description("Offsets are not checked among the first this many messages of each partition after the input starts: on an existing subscription the broker first redelivers what an earlier consumer left unacknowledged, with holes where that consumer acknowledged out of order. Set it to the broker's window (`max_unacked_messages`).").
				Default(client.DefaultGapStartupMessages).Advanced().
				LintRule(`root = if this < 1 { "skip_startup_messages must be at least 1" }`),
		).
		Fields(dcCommonFields()...).
		LintRule(`root = if this.key_filters.or([]).length() > 0 && this.subscription_type.or("shared") != "key_shared" { "key_filters require subscription_type: key_shared" }`).
		Example("Print a topic", "Read a reliable topic with a shared subscription and print every message with its offset.", `
input:
  danube:
    url: http://127.0.0.1:6650
    topics: [ /default/events ]
    subscription: printer
pipeline:
  processors:
    - mapping: 'root = "%s@%s: %s".format(meta("danube_topic"), meta("danube_offset"), content())'
output:
  stdout: {}
`).
		Example("Key-shared workers", "Several processes share the work by routing key; this one only takes EU devices.", `
input:
  danube:
    url: http://127.0.0.1:6650
    topics: [ /default/telemetry ]
    subscription: workers
    subscription_type: key_shared
    consumer_name: worker-eu-1
    key_filters: [ "eu-*" ]
`)
}

func init() {
	service.MustRegisterBatchInput("danube", danubeInputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			ic, err := inputConfigFromParsed(conf, mgr.Logger())
			if err != nil {
				return nil, err
			}
			return newDanubeInput(ic, mgr), nil
		})
}

type inputConfig struct {
	client         client.Options
	consumer       client.ConsumerOptions
	nackDelay      time.Duration
	maxBatch       int
	ackParallelism int
	stopOnSkip     bool
	gaps           client.GapOptions
}

// detectsGaps reports whether the subscription type lets one consumer see
// every offset.
func (ic inputConfig) detectsGaps() bool {
	return ic.consumer.Type == client.SubscriptionExclusive || ic.consumer.Type == client.SubscriptionFailover
}

func inputConfigFromParsed(conf *service.ParsedConfig, log *service.Logger) (ic inputConfig, err error) {
	if ic.client, err = dcClientOptionsFromParsed(conf, log); err != nil {
		return
	}
	var topics []string
	if topics, err = conf.FieldStringList(diFieldTopics); err != nil {
		return
	}
	if len(topics) == 0 {
		return ic, fmt.Errorf("field %s: at least one topic is required", diFieldTopics)
	}
	for _, t := range topics {
		if err = client.ValidateTopic(t); err != nil {
			return ic, fmt.Errorf("field %s: %w", diFieldTopics, err)
		}
	}
	ic.consumer.Topics = topics
	if ic.consumer.Subscription, err = conf.FieldString(diFieldSubscription); err != nil {
		return
	}
	if ic.consumer.Subscription == "" {
		return ic, fmt.Errorf("field %s: must not be empty", diFieldSubscription)
	}
	var st string
	if st, err = conf.FieldString(diFieldSubscriptionType); err != nil {
		return
	}
	switch st {
	case "exclusive":
		ic.consumer.Type = client.SubscriptionExclusive
	case "shared":
		ic.consumer.Type = client.SubscriptionShared
	case "failover":
		ic.consumer.Type = client.SubscriptionFailover
	case "key_shared":
		ic.consumer.Type = client.SubscriptionKeyShared
	default:
		return ic, fmt.Errorf("field %s: unknown value %q", diFieldSubscriptionType, st)
	}
	if ic.consumer.ConsumerName, err = conf.FieldString(diFieldConsumerName); err != nil {
		return
	}
	if ic.consumer.ConsumerName == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "localhost"
		}
		ic.consumer.ConsumerName = host + "-" + ic.consumer.Subscription
	}
	if ic.consumer.KeyFilters, err = conf.FieldStringList(diFieldKeyFilters); err != nil {
		return
	}
	if len(ic.consumer.KeyFilters) > 0 && ic.consumer.Type != client.SubscriptionKeyShared {
		return ic, fmt.Errorf("field %s: requires %s key_shared", diFieldKeyFilters, diFieldSubscriptionType)
	}
	if ic.nackDelay, err = conf.FieldDuration(diFieldNackDelay); err != nil {
		return
	}
	if ic.maxBatch, err = conf.FieldInt(diFieldMaxBatchSize); err != nil {
		return
	}
	if ic.maxBatch < 1 {
		return ic, fmt.Errorf("field %s: must be at least 1", diFieldMaxBatchSize)
	}
	if ic.ackParallelism, err = conf.FieldInt(diFieldAckParallelism); err != nil {
		return
	}
	ic.ackParallelism = max(ic.ackParallelism, 1)
	var skipped string
	if skipped, err = conf.FieldString(diFieldSkippedMessages); err != nil {
		return
	}
	switch skipped {
	case "warn":
	case "stop":
		ic.stopOnSkip = true
	default:
		return ic, fmt.Errorf("field %s: unknown value %q", diFieldSkippedMessages, skipped)
	}
	if ic.gaps.ReorderCount, err = conf.FieldInt(diFieldSkipReorderCount); err != nil {
		return
	}
	if ic.gaps.ReorderCount < 1 {
		return ic, fmt.Errorf("field %s: must be at least 1", diFieldSkipReorderCount)
	}
	if ic.gaps.ReorderTimeout, err = conf.FieldDuration(diFieldSkipReorderTime); err != nil {
		return
	}
	if ic.gaps.ReorderTimeout <= 0 {
		return ic, fmt.Errorf("field %s: must be positive", diFieldSkipReorderTime)
	}
	if ic.gaps.StartupMessages, err = conf.FieldInt(diFieldSkipStartup); err != nil {
		return
	}
	if ic.gaps.StartupMessages < 1 {
		return ic, fmt.Errorf("field %s: must be at least 1", diFieldSkipStartup)
	}
	return ic, nil
}

type danubeInput struct {
	conf inputConfig
	log  *service.Logger

	mReceived *service.MetricCounter
	mBytes    *service.MetricCounter
	mAcked    *service.MetricCounter
	mNacked   *service.MetricCounter
	mErrors   *service.MetricCounter
	mRetries  *service.MetricCounter
	mSkipped  *service.MetricCounter // labelled by topic (partition)
	mResets   *service.MetricCounter // labelled by topic (partition)

	// gaps tracks offsets across reconnects (nil for shared/key_shared).
	// With skipped_messages: stop, the first confirmed gap cancels halt
	// for good: reads and connects fail with haltErr from then on.
	gaps      *client.GapDetector
	halt      context.Context
	haltWith  context.CancelCauseFunc
	haltedLog sync.Once

	mu       sync.Mutex
	client   *client.Client
	consumer *client.Consumer

	// A fixed pool of workers settles batched messages (one Ack or Nack RPC
	// each) without a goroutine per message. The queue is buffered so that
	// a batch is enqueued whole: acks leave roughly in the order batches
	// were settled, which lets the broker's cursor (the last contiguously
	// acked offset) keep up and keeps redeliveries after a broker restart
	// few. closeMu orders enqueuing against Close closing the queue.
	jobs      chan settleJob
	closeMu   sync.RWMutex
	closing   bool
	workers   sync.WaitGroup
	closeOnce sync.Once
}

// settleQueueSize bounds the acks waiting for a worker.
const settleQueueSize = 1024

type settleJob struct {
	ctx     context.Context
	cons    *client.Consumer
	msg     *client.Message
	failure error
	errs    []error
	i       int
	wg      *sync.WaitGroup
}

func newDanubeInput(conf inputConfig, mgr *service.Resources) *danubeInput {
	m := mgr.Metrics()
	in := &danubeInput{
		conf:      conf,
		log:       mgr.Logger(),
		mReceived: m.NewCounter("danube_input_received"),
		mBytes:    m.NewCounter("danube_input_received_bytes"),
		mAcked:    m.NewCounter("danube_input_acked"),
		mNacked:   m.NewCounter("danube_input_nacked"),
		mErrors:   m.NewCounter("danube_input_errors"),
		mRetries:  m.NewCounter("danube_input_retries"),
		mSkipped:  m.NewCounter("danube_input_skipped_messages", "topic"),
		mResets:   m.NewCounter("danube_input_offset_resets", "topic"),
	}
	in.conf.client.OnRetry = func(error) { in.mRetries.Incr(1) }
	in.halt, in.haltWith = context.WithCancelCause(context.Background())
	if conf.detectsGaps() {
		g := conf.gaps
		g.OnGap, g.OnReset, g.OnLate = in.onGap, in.onReset, in.onLate
		in.gaps = client.NewGapDetector(g)
		in.conf.consumer.Gaps = in.gaps
	}
	in.jobs = make(chan settleJob, settleQueueSize)
	for range conf.ackParallelism {
		in.workers.Add(1)
		go in.settleWorker()
	}
	return in
}

// SkippedError is the error of an input stopped by skipped messages.
type SkippedError struct {
	Gap          client.Gap
	Subscription string
}

func (e *SkippedError) Error() string {
	return fmt.Sprintf("danube input stopped (%s: stop): the broker skipped %s (%d messages) on subscription %s; they cannot be recovered through the broker, restart the pipeline once this is dealt with",
		diFieldSkippedMessages, e.Gap, e.Gap.Count(), e.Subscription)
}

func (in *danubeInput) onGap(g client.Gap) {
	in.mSkipped.Incr(int64(g.Count()), g.Topic)
	in.log.Errorf("Danube broker skipped messages: topic %s, subscription %s, offsets %d-%d (%d messages) were never delivered",
		g.Topic, in.conf.consumer.Subscription, g.From, g.To, g.Count())
	if in.conf.stopOnSkip {
		in.haltWith(&SkippedError{Gap: g, Subscription: in.conf.consumer.Subscription})
	}
}

func (in *danubeInput) onReset(r client.Reset) {
	in.mResets.Incr(1, r.Topic)
	in.log.Warnf("Danube offsets of topic %s went back to %d after offsets up to %d (subscription %s): the broker renumbered its log (restart); gap tracking restarts there",
		r.Topic, r.Offset, r.Highest, in.conf.consumer.Subscription)
}

func (in *danubeInput) onLate(l client.Late) {
	in.log.Warnf("Danube message at offset %d of topic %s (subscription %s) arrived after it was reported skipped; raise %s",
		l.Offset, l.Topic, in.conf.consumer.Subscription, diFieldSkipReorderCount)
}

// halted returns the error that stopped the input, or nil.
func (in *danubeInput) halted() error {
	if in.halt.Err() == nil {
		return nil
	}
	return context.Cause(in.halt)
}

func (in *danubeInput) settleWorker() {
	defer in.workers.Done()
	for j := range in.jobs {
		j.errs[j.i] = in.settleOne(j.ctx, j.cons, j.msg, j.failure)
		j.wg.Done()
	}
}

// settleOne acks a message, or nacks it when it failed.
func (in *danubeInput) settleOne(ctx context.Context, cons *client.Consumer, m *client.Message, failure error) error {
	if failure == nil {
		return cons.Ack(ctx, m)
	}
	return cons.Nack(ctx, m, in.conf.nackDelay, nackReason(failure))
}

func (in *danubeInput) Connect(ctx context.Context) error {
	if err := in.halted(); err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.consumer != nil {
		return nil
	}
	if in.client == nil {
		c, err := client.New(in.conf.client)
		if err != nil {
			return err
		}
		in.client = c
	}
	cons, err := in.client.Subscribe(ctx, in.conf.consumer)
	if err != nil {
		in.mErrors.Incr(1)
		return fmt.Errorf("subscribing %s to %v: %w", in.conf.consumer.Subscription, in.conf.consumer.Topics, err)
	}
	in.consumer = cons
	in.log.Infof("Subscribed %s", cons)
	return nil
}

func (in *danubeInput) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	in.mu.Lock()
	cons := in.consumer
	in.mu.Unlock()
	if err := in.halted(); err != nil {
		return nil, nil, in.stop(cons, err)
	}
	if cons == nil {
		return nil, nil, service.ErrNotConnected
	}
	rctx := ctx
	if in.conf.stopOnSkip {
		var cancel context.CancelFunc
		rctx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(in.halt, cancel)()
	}
	first, err := cons.Receive(rctx)
	if err != nil {
		if herr := in.halted(); herr != nil {
			return nil, nil, in.stop(cons, herr)
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		in.mErrors.Incr(1)
		in.log.Warnf("Danube consumer lost: %v", err)
		in.dropConsumer(cons)
		return nil, nil, service.ErrNotConnected
	}
	msgs := []*client.Message{first}
	for len(msgs) < in.conf.maxBatch {
		m := cons.TryReceive()
		if m == nil {
			break
		}
		msgs = append(msgs, m)
	}
	batch := make(service.MessageBatch, len(msgs))
	var bytes int64
	for i, m := range msgs {
		batch[i] = toBenthosMessage(m)
		bytes += int64(len(m.Payload))
	}
	in.mReceived.Incr(int64(len(msgs)))
	in.mBytes.Incr(bytes)
	// The indexer must tag the messages before they leave: it is how a
	// BatchError coming back is mapped onto our messages.
	index := batch.Index()
	return batch, func(ctx context.Context, err error) error {
		return in.settle(ctx, cons, index, msgs, err)
	}, nil
}

// stop closes the consumer of an input halted by skipped messages and
// returns the error reads fail with: not connected (so Benthos reports the
// input down and retries Connect, which fails with the same reason).
func (in *danubeInput) stop(cons *client.Consumer, cause error) error {
	if cons != nil {
		in.dropConsumer(cons)
	}
	in.haltedLog.Do(func() { in.log.Errorf("%v", cause) })
	return fmt.Errorf("%w: %w", service.ErrNotConnected, cause)
}

// dropConsumer forgets a broken consumer so that Connect subscribes anew.
func (in *danubeInput) dropConsumer(cons *client.Consumer) {
	in.mu.Lock()
	if in.consumer == cons {
		in.consumer = nil
	}
	in.mu.Unlock()
	_ = cons.Close()
}

func toBenthosMessage(m *client.Message) *service.Message {
	msg := service.NewMessage(m.Payload)
	for k, v := range m.Attributes {
		msg.MetaSetMut(k, v)
	}
	msg.MetaSetMut("danube_topic", m.Topic)
	msg.MetaSetMut("danube_offset", strconv.FormatUint(m.Offset, 10))
	msg.MetaSetMut("danube_producer", m.ProducerName)
	msg.MetaSetMut("danube_producer_id", strconv.FormatUint(m.ProducerID, 10))
	msg.MetaSetMut("danube_publish_time", strconv.FormatInt(m.PublishTime.UnixMilli(), 10))
	msg.MetaSetMut("danube_subscription", m.Subscription)
	if m.RoutingKey != "" {
		msg.MetaSetMut("danube_routing_key", m.RoutingKey)
	}
	if m.SchemaID != 0 {
		msg.MetaSetMut("danube_schema_id", strconv.FormatUint(m.SchemaID, 10))
		msg.MetaSetMut("danube_schema_version", strconv.FormatUint(uint64(m.SchemaVersion), 10))
	}
	return msg
}

// settle acks or nacks the messages of a batch. A *service.BatchError nacks
// only the messages it marks as failed and acks the rest.
func (in *danubeInput) settle(ctx context.Context, cons *client.Consumer, index *service.Indexer, msgs []*client.Message, err error) error {
	failures := make([]error, len(msgs))
	if err != nil {
		var bErr *service.BatchError
		if errors.As(err, &bErr) && bErr.IndexedErrors() > 0 {
			bErr.WalkMessagesIndexedBy(index, func(i int, _ *service.Message, merr error) bool {
				if i >= 0 && i < len(failures) && merr != nil {
					failures[i] = merr
				}
				return true
			})
		} else {
			for i := range failures {
				failures[i] = err
			}
		}
	}
	rpcErrs := make([]error, len(msgs))
	if len(msgs) == 1 {
		rpcErrs[0] = in.settleOne(ctx, cons, msgs[0], failures[0])
	} else {
		var wg sync.WaitGroup
		in.closeMu.RLock()
		if in.closing {
			for i := range rpcErrs {
				rpcErrs[i] = client.ErrClosed
			}
		} else {
			// The workers run until Close closes the queue, which waits
			// for this read lock, so these sends always complete.
			wg.Add(len(msgs))
			for i, m := range msgs {
				in.jobs <- settleJob{ctx: ctx, cons: cons, msg: m, failure: failures[i], errs: rpcErrs, i: i, wg: &wg}
			}
		}
		in.closeMu.RUnlock()
		wg.Wait()
	}
	// Counted once per batch: every Incr with Benthos' labels costs a
	// label lookup, which showed up in profiles at one per message.
	var acked, nacked int64
	for i, rpcErr := range rpcErrs {
		switch {
		case rpcErr != nil:
		case failures[i] == nil:
			acked++
		default:
			nacked++
		}
	}
	if acked > 0 {
		in.mAcked.Incr(acked)
	}
	if nacked > 0 {
		in.mNacked.Incr(nacked)
	}
	if err := errors.Join(rpcErrs...); err != nil {
		in.mErrors.Incr(1)
		return fmt.Errorf("settling %d danube messages (the broker redelivers unacknowledged ones): %w", len(msgs), err)
	}
	return nil
}

func nackReason(err error) string {
	s := err.Error()
	if len(s) <= maxNackReason {
		return s
	}
	s = s[:maxNackReason]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Close stops the receive streams and health checks at once; acks in flight
// get a short grace period (the client's CloseTimeout) before their retries
// give up, so closing never waits out a reconnect backoff.
func (in *danubeInput) Close(context.Context) error {
	in.mu.Lock()
	cons, c := in.consumer, in.client
	in.consumer, in.client = nil, nil
	in.mu.Unlock()
	if cons != nil {
		_ = cons.Close()
	}
	if in.gaps != nil {
		in.gaps.Close()
	}
	in.closeOnce.Do(func() {
		in.closeMu.Lock()
		in.closing = true
		close(in.jobs)
		in.closeMu.Unlock()
		// Queued acks still get one attempt each: the consumer is closed,
		// so none of them retries.
		in.workers.Wait()
	})
	if c != nil {
		return c.Close()
	}
	return nil
}

// ConnectionTest checks the broker and that every topic exists.
func (in *danubeInput) ConnectionTest(ctx context.Context) service.ConnectionTestResults {
	return dcConnectionTest(ctx, in.conf.client, in.conf.consumer.Topics)
}
