package danubetest

import (
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// Cluster is the state shared by one or more in-process brokers: namespaces,
// topics (with their logs and subscription cursors), topic ownership, the
// schema registry and the registered producers and consumers. A broker
// created without a Cluster gets a private one. Sharing a Cluster between two
// brokers gives the client a real redirect to follow: a topic is served only
// by its owner, and the other broker answers lookups with Redirect.
type Cluster struct {
	mu         sync.RWMutex
	namespaces map[string]struct{}
	topics     map[string]*topic
	producers  map[uint64]*producer
	consumers  map[uint64]*consumer
	brokers    []*Broker
	placement  *Broker
	// subConfigs holds per-subscription overrides set before (or after) the
	// subscription exists, keyed by topic + "\x00" + subscription.
	subConfigs map[string]subConfig

	schemas *schemaRegistry
}

type subConfig struct {
	maxUnacked int
	policy     *FailurePolicy
}

// NewCluster returns an empty cluster with the bootstrapped "default" namespace.
func NewCluster() *Cluster {
	return &Cluster{
		namespaces: map[string]struct{}{"default": {}},
		topics:     map[string]*topic{},
		producers:  map[uint64]*producer{},
		consumers:  map[uint64]*consumer{},
		subConfigs: map[string]subConfig{},
		schemas:    newSchemaRegistry(),
	}
}

// CreateNamespace adds a namespace so that topics under it can be auto-created.
func (c *Cluster) CreateNamespace(ns string) {
	c.mu.Lock()
	c.namespaces[ns] = struct{}{}
	c.mu.Unlock()
}

// PlaceNewTopicsOn makes every topic auto-created from now on owned by b, as
// a cluster-mode load manager would: a CreateProducer on another broker
// creates the topic metadata and answers Unavailable ("redo the lookup"), and
// lookups there answer Redirect to b. nil restores "owned by the creating
// broker" (standalone behaviour).
func (c *Cluster) PlaceNewTopicsOn(b *Broker) {
	c.mu.Lock()
	c.placement = b
	c.mu.Unlock()
}

// AssignTopic moves an existing topic to broker b, like an unload followed by
// a load elsewhere: its producers and consumers are dropped (health checks
// answer CLOSE, streams end) and lookups now point at b. Logs and cursors are
// kept. It reports whether the topic exists.
func (c *Cluster) AssignTopic(topicName string, b *Broker) bool {
	c.mu.Lock()
	t := c.topics[topicName]
	if t == nil {
		c.mu.Unlock()
		return false
	}
	t.owner = b
	c.mu.Unlock()
	c.dropClients(func(tt *topic) bool { return tt == t })
	return true
}

func (c *Cluster) addBroker(b *Broker) {
	c.mu.Lock()
	c.brokers = append(c.brokers, b)
	c.mu.Unlock()
}

func (c *Cluster) topic(name string) *topic {
	c.mu.RLock()
	t := c.topics[name]
	c.mu.RUnlock()
	return t
}

// topicPartitions mirrors the real broker: the topic itself when it exists,
// otherwise every topic whose name starts with the given string (a raw
// prefix scan, so "/default/orders" also matches "/default/orders2"),
// in lexicographic order.
func (c *Cluster) topicPartitions(name string) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if _, ok := c.topics[name]; ok {
		return []string{name}
	}
	var out []string
	for n := range c.topics {
		if strings.HasPrefix(n, name) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// newIDLocked returns a random non-zero id unused by producers and consumers.
func (c *Cluster) newIDLocked() uint64 {
	for {
		id := rand.Uint64()
		if id == 0 {
			continue
		}
		if _, ok := c.producers[id]; ok {
			continue
		}
		if _, ok := c.consumers[id]; ok {
			continue
		}
		return id
	}
}

func (c *Cluster) subConfig(topicName, sub string) subConfig {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.subConfigs[topicName+"\x00"+sub]
}

// dropClients removes the producers and consumers of every topic selected by
// match, ends their streams and rewinds reliable subscriptions to their acked
// cursor, which is what clients observe when a broker restarts or a topic is
// unloaded.
func (c *Cluster) dropClients(match func(*topic) bool) {
	c.mu.Lock()
	var topics []*topic
	for _, t := range c.topics {
		if match(t) {
			topics = append(topics, t)
		}
	}
	for id, p := range c.producers {
		if match(p.topic) {
			delete(c.producers, id)
		}
	}
	for id, cs := range c.consumers {
		if match(cs.sub.topic) {
			delete(c.consumers, id)
		}
	}
	c.mu.Unlock()

	for _, t := range topics {
		t.mu.Lock()
		t.producers = map[string]*producer{}
		subs := t.subscriptionList()
		t.mu.Unlock()
		for _, s := range subs {
			s.reset()
		}
	}
}

// topic is one (non-partitioned or partition) topic.
type topic struct {
	name     string
	reliable bool
	cluster  *Cluster
	owner    *Broker // guarded by cluster.mu

	mu            sync.RWMutex
	schemaSubject string
	validation    topicSchemaConfig
	log           []*pb.StreamMessage // reliable only; log[i] has position logBase+i
	logBase       uint64              // positions below were acked by every subscription and dropped
	// epochs are the log positions where the numbering restarted at 0
	// (Emulate.OffsetResetOnRestart); epochs[0] is 0. A message's offset
	// on the wire is its position minus the start of its epoch.
	epochs    []uint64
	producers map[string]*producer
	subs      map[string]*subscription
}

func newTopic(c *Cluster, name string, reliable bool, owner *Broker) *topic {
	return &topic{
		name:      name,
		reliable:  reliable,
		cluster:   c,
		owner:     owner,
		epochs:    []uint64{0},
		producers: map[string]*producer{},
		subs:      map[string]*subscription{},
	}
}

// subscriptionList must be called with t.mu held.
func (t *topic) subscriptionList() []*subscription {
	out := make([]*subscription, 0, len(t.subs))
	for _, s := range t.subs {
		out = append(out, s)
	}
	return out
}

// logView is a snapshot of a reliable topic's log. Entries are immutable
// once appended, so it may be read without the topic lock.
type logView struct {
	base uint64
	msgs []*pb.StreamMessage
}

func (v logView) end() uint64 { return v.base + uint64(len(v.msgs)) }

func (v logView) at(off uint64) *pb.StreamMessage { return v.msgs[off-v.base] }

func (t *topic) logSnapshot() logView {
	t.mu.RLock()
	v := logView{base: t.logBase, msgs: t.log}
	t.mu.RUnlock()
	return v
}

// trimThreshold is the log length above which acked entries are dropped.
const trimThreshold = 4096

// trimLocked drops the log prefix every subscription has acked. New reliable
// subscriptions start at the tail and restarts rewind to the acked cursor, so
// no client can ever read those entries again: trimming is invisible on the
// wire and keeps long tests and benchmarks from holding every payload.
func (t *topic) trimLocked() {
	cut := t.logBase + uint64(len(t.log))
	for _, s := range t.subs {
		if a := s.ackedMark.Load(); a < cut {
			cut = a
		}
	}
	if cut-t.logBase < uint64(len(t.log))/2 {
		return
	}
	t.log = append([]*pb.StreamMessage(nil), t.log[cut-t.logBase:]...)
	t.logBase = cut
}

// publish stores (reliable) and dispatches one message.
func (t *topic) publish(m *pb.StreamMessage) {
	t.mu.Lock()
	if t.reliable {
		m.MsgId.TopicOffset = t.logBase + uint64(len(t.log)) - t.epochs[len(t.epochs)-1]
		t.log = append(t.log, m)
		if len(t.log) >= trimThreshold && len(t.log)%1024 == 0 {
			t.trimLocked()
		}
	}
	var subs []*subscription
	if len(t.subs) == 1 {
		for _, s := range t.subs {
			subs = []*subscription{s}
		}
	} else {
		subs = t.subscriptionList()
	}
	t.mu.Unlock()
	for _, s := range subs {
		if t.reliable {
			s.pump()
		} else {
			s.deliverNonReliable(m)
		}
	}
}

// renumber makes new messages of the selected reliable topics start again
// at offset 0 (a restarted v0.15.1 broker).
func (c *Cluster) renumber(match func(*topic) bool) {
	c.mu.RLock()
	var topics []*topic
	for _, t := range c.topics {
		if t.reliable && match(t) {
			topics = append(topics, t)
		}
	}
	c.mu.RUnlock()
	for _, t := range topics {
		t.mu.Lock()
		if end := t.logBase + uint64(len(t.log)); end > t.epochs[len(t.epochs)-1] {
			t.epochs = append(t.epochs, end)
		}
		t.mu.Unlock()
	}
}

// positions returns the log positions a wire offset may denote, newest
// numbering first (one unless the numbering was reset).
func (t *topic) positions(offset uint64) []uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if len(t.epochs) == 1 {
		return []uint64{offset}
	}
	end := t.logBase + uint64(len(t.log))
	var out []uint64
	for i := len(t.epochs) - 1; i >= 0; i-- {
		if p := t.epochs[i] + offset; p < end {
			out = append(out, p)
		}
		end = t.epochs[i]
	}
	return out
}

// wireOffset is the offset on the wire of log position p.
func (t *topic) wireOffset(p uint64) uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i := len(t.epochs) - 1; i >= 0; i-- {
		if p >= t.epochs[i] {
			return p - t.epochs[i]
		}
	}
	return p
}

type producer struct {
	id     uint64
	name   string
	topic  *topic
	access pb.ProducerAccessMode
}

// validTopicName mirrors the broker's validate_topic_format: exactly three
// parts when split on "/", each character alphanumeric (Unicode), '_' or '-'.
// Empty parts pass, as in the real broker.
func validTopicName(name string) bool {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		for _, r := range p {
			if r == '_' || r == '-' || isAlnum(r) {
				continue
			}
			return false
		}
	}
	return true
}

func namespaceOf(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return ""
	}
	return parts[1]
}

// partitionBase returns the base name of "base-part-N", or "" if name is not
// a partition name.
func partitionBase(name string) string {
	i := strings.LastIndex(name, "-part-")
	if i < 0 {
		return ""
	}
	n := name[i+len("-part-"):]
	if n == "" {
		return ""
	}
	for _, r := range n {
		if r < '0' || r > '9' {
			return ""
		}
	}
	return name[:i]
}

// conflictLocked returns AlreadyExists (with the broker's texts) when name
// clashes with an existing partitioned/non-partitioned topic of the same base.
func (c *Cluster) conflictLocked(name string) error {
	if base := partitionBase(name); base != "" {
		if _, ok := c.topics[base]; ok {
			return status.Errorf(codes.AlreadyExists, "Cannot create partitioned topic '%s': a non-partitioned topic '%s' already exists. Delete the non-partitioned topic first.", name, base)
		}
	}
	prefix := name + "-part-"
	found := 0
	for n := range c.topics {
		if strings.HasPrefix(n, prefix) && partitionBase(n) == name {
			found++
		}
	}
	if found > 0 {
		return status.Errorf(codes.AlreadyExists, "Cannot create topic '%s': partitioned topics with this base name already exist (found %d partitions). Delete the partitioned topics first.", name, found)
	}
	return nil
}

func nowMillis() uint64 { return uint64(time.Now().UnixMilli()) }
