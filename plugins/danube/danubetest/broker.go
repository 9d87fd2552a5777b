package danubetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// EnvBrokerURL names the environment variable that points tests at a real
// danube-broker instead of the in-process double.
const EnvBrokerURL = "DANUBE_BROKER_URL"

// ProxyHeader is the metadata key clients add when a lookup answered proxy=true.
const ProxyHeader = "x-danube-broker-url"

// Options configure a Broker. The zero value is a plaintext broker on a
// random loopback port with the real broker's defaults.
type Options struct {
	// Addr is the listen address; default "127.0.0.1:0". The port chosen is
	// kept across Restart.
	Addr string
	// TLS, when set, serves TLS and makes URL() use https://.
	TLS *tls.Config
	// Auth, when set, requires a Bearer HS256 JWT on every RPC.
	Auth *AuthOptions
	// Cluster shares topics, ownership and schemas with other brokers.
	Cluster *Cluster
	// ConnectURL is advertised as connect_url in lookups (default: URL()).
	// When it differs from URL(), redirects to this broker carry proxy=true.
	ConnectURL string
	// Proxy is the proxy flag returned with Connect answers (proxy_enabled).
	Proxy bool
	// MaxUnacked is the default reliable window per subscription (real: 10).
	// Throughput tests want 1000 or more.
	MaxUnacked int
	// FailurePolicy is the default reliable failure policy (real defaults
	// when zero: 5 redeliveries, 30 s ack timeout, 1 s base delay, 60 s cap,
	// exponential, Block).
	FailurePolicy FailurePolicy
	// NonReliableBuffer is the per-consumer buffer of non-reliable topics;
	// messages are dropped when it is full (real: 4 + 4 = 8).
	NonReliableBuffer int
	// MaxMessageSize rejects larger payloads with InvalidArgument (default
	// 10 MiB as in the broker policy; gRPC's 4 MiB limit applies first).
	MaxMessageSize int
	// DisableAutoCreate makes CreateProducer on an unknown topic NotFound.
	DisableAutoCreate bool
	// Emulate turns on behaviours of danube-broker v0.15.1 that lose or
	// renumber messages. All are off by default.
	Emulate Emulate
	// Logger receives the warnings the real broker would log (live-feed
	// lag). Default: slog.Default().
	Logger *slog.Logger
}

// Emulate selects opt-in emulations of danube-broker v0.15.1 defects.
type Emulate struct {
	// LiveFeedSkip: a reliable subscription created without a saved cursor
	// reads a bounded live feed of the newest LiveFeedCapacity messages
	// (tokio broadcast channel, 256 in v0.15.1). When its window of
	// unacknowledged messages stays full while more than that many messages
	// are published, the feed lags: the subscription jumps to the oldest
	// message still in the feed, logs a warning and never delivers the
	// skipped ones. After Restart or CloseTopic the subscription resumes
	// from its cursor and reads the log (no more skips).
	LiveFeedSkip bool
	// LiveFeedCapacity is the live feed's size (default 256).
	LiveFeedCapacity int
	// OffsetResetOnRestart: after Restart, new messages of every reliable
	// topic are numbered from 0 again (the real WAL recovery starts at 0),
	// so their offsets collide with older ones. Unacknowledged older
	// messages are still redelivered first, under their old offsets.
	OffsetResetOnRestart bool
	// IgnoreSubscriptionDispatch: SetSubscriptionDispatch stores the
	// per-subscription window but dispatch keeps using MaxUnacked, as the
	// real broker ignores its admin override.
	IgnoreSubscriptionDispatch bool
}

// AuthOptions enable the JWT check of auth.mode "tls" (TLS itself is
// optional here, see README).
type AuthOptions struct {
	// Secret is the HS256 key.
	Secret []byte
	// Deny lists principal names that authenticate but are granted nothing:
	// every RPC except HealthCheck answers PermissionDenied.
	Deny []string
}

// Broker is an in-process, wire-compatible test double of danube-broker
// v0.15.1. It is NOT a broker: see README.md for every difference.
type Broker struct {
	opts    Options
	cluster *Cluster

	mu         sync.Mutex
	addr       string
	srv        *grpc.Server
	running    bool
	closed     bool
	brokerURL  string
	connectURL string

	faults  faultTable
	headers headerLog
}

// New starts a broker.
func New(opts Options) (*Broker, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.MaxUnacked <= 0 {
		opts.MaxUnacked = 10
	}
	if opts.NonReliableBuffer <= 0 {
		opts.NonReliableBuffer = 8
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = 10 << 20
	}
	if opts.Emulate.LiveFeedCapacity <= 0 {
		opts.Emulate.LiveFeedCapacity = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Cluster == nil {
		opts.Cluster = NewCluster()
	}
	b := &Broker{opts: opts, cluster: opts.Cluster, addr: opts.Addr}
	b.faults.init()
	b.headers.init()
	if err := b.start(); err != nil {
		return nil, err
	}
	b.cluster.addBroker(b)
	return b, nil
}

// Start starts a broker for a test and closes it at the end of the test.
func Start(tb testing.TB, opts ...Options) *Broker {
	tb.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	b, err := New(o)
	if err != nil {
		tb.Fatalf("danubetest: starting broker: %v", err)
	}
	tb.Cleanup(b.Close)
	return b
}

// BrokerURL returns the value of DANUBE_BROKER_URL (and a nil broker) when
// it is set, else starts an in-process broker (closed at test end).
func BrokerURL(tb testing.TB, opts ...Options) (string, *Broker) {
	tb.Helper()
	if u := os.Getenv(EnvBrokerURL); u != "" {
		return u, nil
	}
	b := Start(tb, opts...)
	return b.URL(), b
}

func (b *Broker) start() error {
	lis, err := net.Listen("tcp", b.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", b.addr, err)
	}
	b.addr = lis.Addr().String()
	scheme := "http://"
	if b.opts.TLS != nil {
		scheme = "https://"
	}
	b.brokerURL = scheme + b.addr
	b.connectURL = b.brokerURL
	if b.opts.ConnectURL != "" {
		b.connectURL = b.opts.ConnectURL
	}

	sopts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(b.unaryInterceptor),
		grpc.ChainStreamInterceptor(b.streamInterceptor),
		// Reusing handler goroutines (whose stacks have already grown)
		// avoids growing a fresh stack per unary RPC; ReceiveMessages streams
		// occupy workers for long, hence more than GOMAXPROCS.
		grpc.NumStreamWorkers(uint32(16 * runtime.GOMAXPROCS(0))),
	}
	if b.opts.TLS != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(b.opts.TLS)))
	}
	srv := grpc.NewServer(sopts...)
	svc := &service{b: b}
	pb.RegisterProducerServiceServer(srv, svc)
	pb.RegisterConsumerServiceServer(srv, svc)
	pb.RegisterDiscoveryServer(srv, svc)
	pb.RegisterHealthCheckServer(srv, svc)
	pb.RegisterSchemaRegistryServer(srv, &schemaService{b: b})
	b.srv = srv
	b.running = true
	go func() { _ = srv.Serve(lis) }()
	return nil
}

// URL is the broker URL clients connect to, "http://127.0.0.1:port".
func (b *Broker) URL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.brokerURL
}

// Addr is host:port of the listener.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
}

// Cluster returns the shared state this broker belongs to.
func (b *Broker) Cluster() *Cluster { return b.cluster }

// Stop shuts the listener down like a crashed or stopped broker: every
// connection and stream is cut, producers and consumers of the topics this
// broker owns are forgotten. Topics, logs, acked cursors and schemas stay.
func (b *Broker) Stop() {
	b.mu.Lock()
	if !b.running {
		b.mu.Unlock()
		return
	}
	b.running = false
	srv := b.srv
	b.mu.Unlock()
	b.cluster.dropClients(func(t *topic) bool { return t.owner == b })
	srv.Stop()
}

// Restart stops the broker (if running) and serves again on the same
// address. With Emulate.OffsetResetOnRestart the offsets of new messages
// start again at 0.
func (b *Broker) Restart() error {
	b.Stop()
	if b.opts.Emulate.OffsetResetOnRestart {
		b.cluster.renumber(func(t *topic) bool { return t.owner == b })
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("danubetest: broker is closed")
	}
	var err error
	// The port may linger briefly after Stop; retry for a short while.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err = b.start(); err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close stops the broker for good and stops its timers. It is idempotent.
func (b *Broker) Close() {
	b.Stop()
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	c := b.cluster
	c.mu.RLock()
	var subs []*subscription
	for _, t := range c.topics {
		t.mu.RLock()
		subs = append(subs, t.subscriptionList()...)
		t.mu.RUnlock()
	}
	c.mu.RUnlock()
	for _, s := range subs {
		if s.broker == b {
			s.stopTimer()
		}
	}
}

// CreateNamespace adds a namespace to the broker's cluster.
func (b *Broker) CreateNamespace(ns string) { b.cluster.CreateNamespace(ns) }

// FailNext makes the next n calls of method (short name such as
// "SendMessage" or the full "/danube.ProducerService/SendMessage") fail with
// code before reaching the handler.
func (b *Broker) FailNext(method string, code codes.Code, n int) { b.faults.failNext(method, code, n) }

// SetDelay delays every call of method by d before handling it (0 removes).
func (b *Broker) SetDelay(method string, d time.Duration) { b.faults.setDelay(method, d) }

// HeaderValues returns the distinct values received on any RPC for one of
// the recorded metadata keys: "authorization", ProxyHeader and
// "x-danube-internal-broker".
func (b *Broker) HeaderValues(key string) []string { return b.headers.values(key) }

// CloseTopic unloads a topic: its producers and consumers are dropped
// (health checks answer CLOSE, streams end, sends answer NotFound) while
// the log and acked cursors stay. It reports whether the topic exists.
func (b *Broker) CloseTopic(topicName string) bool {
	t := b.cluster.topic(topicName)
	if t == nil {
		return false
	}
	b.cluster.dropClients(func(tt *topic) bool { return tt == t })
	return true
}

// KillStreams ends every open ReceiveMessages stream of this broker's
// topics with Unavailable; consumers stay registered but become inactive and
// their in-flight messages are retried.
func (b *Broker) KillStreams() {
	c := b.cluster
	c.mu.RLock()
	var consumers []*consumer
	for _, cs := range c.consumers {
		if cs.sub.topic.owner == b {
			consumers = append(consumers, cs)
		}
	}
	c.mu.RUnlock()
	for _, cs := range consumers {
		s := cs.sub
		s.mu.Lock()
		if cs.stream != nil {
			s.detachLocked(cs)
			cs.active = false
			s.pumpLocked(time.Now())
		}
		s.mu.Unlock()
	}
}

// SetSubscriptionDispatch sets max_unacked_messages of a subscription
// (existing or future), like the admin SetSubscriptionDispatchConfig. With
// Emulate.IgnoreSubscriptionDispatch it is stored (Stats shows it) but not
// used.
func (b *Broker) SetSubscriptionDispatch(topicName, sub string, maxUnacked int) {
	b.updateSubConfig(topicName, sub, func(c *subConfig) { c.maxUnacked = maxUnacked })
}

// SetFailurePolicy sets the failure policy of a subscription (existing or
// future), like the admin SetSubscriptionFailurePolicy.
func (b *Broker) SetFailurePolicy(topicName, sub string, p FailurePolicy) {
	b.updateSubConfig(topicName, sub, func(c *subConfig) { c.policy = &p })
}

func (b *Broker) updateSubConfig(topicName, sub string, f func(*subConfig)) {
	c := b.cluster
	c.mu.Lock()
	key := topicName + "\x00" + sub
	cfg := c.subConfigs[key]
	f(&cfg)
	c.subConfigs[key] = cfg
	t := c.topics[topicName]
	c.mu.Unlock()
	if t == nil {
		return
	}
	t.mu.RLock()
	s := t.subs[sub]
	t.mu.RUnlock()
	if s != nil {
		s.mu.Lock()
		s.applyConfig(cfg)
		s.pumpLocked(time.Now())
		s.mu.Unlock()
	}
}

// CreateTopic creates a topic like the admin CreateTopic (no auto-create
// rules apply other than format, namespace and conflicts).
func (b *Broker) CreateTopic(name string, reliable bool) error {
	_, err := b.getOrCreateTopic(context.Background(), name, reliable, true)
	return err
}

// TopicStats is a snapshot of a topic for assertions.
type TopicStats struct {
	Reliable      bool
	Messages      uint64 // log length (reliable)
	Producers     int
	Subscriptions map[string]SubscriptionStats
}

// SubscriptionStats is a snapshot of a subscription.
type SubscriptionStats struct {
	Consumers        int
	ActiveConsumers  int
	Streaming        int    // consumers with an open ReceiveMessages stream
	AckedCursor      uint64 // every offset below is acked or skipped
	InFlight         int
	PendingRedeliver int
	Blocked          bool
	Dropped          uint64 // non-reliable messages dropped (no consumer or buffer full)
	// Window is the window dispatch uses; StoredWindow the per-subscription
	// override set with SetSubscriptionDispatch (0: none).
	Window, StoredWindow int
	// LiveFeed reports a subscription reading the live feed
	// (Emulate.LiveFeedSkip, no saved cursor yet).
	LiveFeed bool
	// Skipped counts the messages the live feed skipped; SkippedRanges
	// lists them as inclusive offset ranges (at most the first 100,000).
	Skipped       uint64
	SkippedRanges [][2]uint64
}

// Stats returns a snapshot of a topic, or false if it does not exist.
func (b *Broker) Stats(topicName string) (TopicStats, bool) {
	t := b.cluster.topic(topicName)
	if t == nil {
		return TopicStats{}, false
	}
	t.mu.RLock()
	st := TopicStats{Reliable: t.reliable, Messages: t.logBase + uint64(len(t.log)), Producers: len(t.producers), Subscriptions: map[string]SubscriptionStats{}}
	subs := t.subscriptionList()
	t.mu.RUnlock()
	for _, s := range subs {
		s.mu.Lock()
		ss := SubscriptionStats{Consumers: len(s.consumers), AckedCursor: s.ackBase, InFlight: len(s.inflight), PendingRedeliver: len(s.retries), Blocked: s.blocked, Dropped: s.nonRelDrops,
			Window: s.window, StoredWindow: s.storedWindow, LiveFeed: s.liveFeed, Skipped: s.skipped, SkippedRanges: append([][2]uint64(nil), s.skips...)}
		for _, c := range s.consumers {
			if c.active {
				ss.ActiveConsumers++
			}
			if s.hasStream(c) {
				ss.Streaming++
			}
		}
		s.mu.Unlock()
		st.Subscriptions[s.name] = ss
	}
	return st, true
}

// --- interceptors ---

func shortMethod(full string) string {
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[i+1:]
	}
	return full
}

// recordedHeaders are the metadata keys HeaderValues can report. Looking up
// known keys avoids copying the whole metadata on every RPC.
var recordedHeaders = []string{"authorization", ProxyHeader, "x-danube-internal-broker"}

func (b *Broker) intercept(ctx context.Context, fullMethod string) error {
	var auth []string
	for _, k := range recordedHeaders {
		vs := metadata.ValueFromIncomingContext(ctx, k)
		if len(vs) > 0 {
			b.headers.record(k, vs)
		}
		if k == "authorization" {
			auth = vs
		}
	}
	if err := b.authenticate(auth, fullMethod); err != nil {
		return err
	}
	return b.faults.apply(ctx, fullMethod)
}

func (b *Broker) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := b.intercept(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (b *Broker) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := b.intercept(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// servesTopic reports whether this broker may serve t: it owns it, or the
// client addressed the owner through the proxy header (this broker then acts
// as the proxy in front of the owner, which shares its state in-process).
func (b *Broker) servesTopic(ctx context.Context, t *topic) bool {
	b.cluster.mu.RLock()
	owner := t.owner
	b.cluster.mu.RUnlock()
	if owner == nil || owner == b {
		return true
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		for _, v := range md.Get(ProxyHeader) {
			if v == owner.URL() {
				return true
			}
		}
	}
	return false
}

// --- faults ---

type faultTable struct {
	mu     sync.Mutex
	fail   map[string]*injectedFailure
	delays map[string]time.Duration
	any    atomic.Bool // set once any fault was configured; keeps the fast path lock-free
}

type injectedFailure struct {
	code codes.Code
	n    int
}

func (f *faultTable) init() {
	f.fail = map[string]*injectedFailure{}
	f.delays = map[string]time.Duration{}
}

func (f *faultTable) failNext(method string, code codes.Code, n int) {
	f.mu.Lock()
	f.fail[shortMethod(method)] = &injectedFailure{code: code, n: n}
	f.any.Store(true)
	f.mu.Unlock()
}

func (f *faultTable) setDelay(method string, d time.Duration) {
	f.mu.Lock()
	if d <= 0 {
		delete(f.delays, shortMethod(method))
	} else {
		f.delays[shortMethod(method)] = d
	}
	f.any.Store(true)
	f.mu.Unlock()
}

func (f *faultTable) apply(ctx context.Context, fullMethod string) error {
	if !f.any.Load() {
		return nil
	}
	f.mu.Lock()
	m := shortMethod(fullMethod)
	delay := f.delays[m]
	var err error
	if inj := f.fail[m]; inj != nil && inj.n > 0 {
		inj.n--
		err = status.Errorf(inj.code, "danubetest: injected %s for %s", inj.code, m)
	}
	f.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	return err
}

// --- header log ---

// headerLog keeps the distinct values seen per metadata key (bounded).
type headerLog struct {
	mu   sync.Mutex
	seen map[string]map[string]struct{}
	n    int
}

const maxRecordedHeaders = 10000

func (h *headerLog) init() { h.seen = map[string]map[string]struct{}{} }

func (h *headerLog) record(k string, vs []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.seen[k]
	if m == nil {
		m = map[string]struct{}{}
		h.seen[k] = m
	}
	for _, v := range vs {
		if _, ok := m[v]; !ok && h.n < maxRecordedHeaders {
			m[v] = struct{}{}
			h.n++
		}
	}
}

func (h *headerLog) values(key string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for v := range h.seen[strings.ToLower(key)] {
		out = append(out, v)
	}
	return out
}
