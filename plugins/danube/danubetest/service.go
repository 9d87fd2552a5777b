package danubetest

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// service implements the client-facing danube services of one broker.
type service struct {
	pb.UnimplementedProducerServiceServer
	pb.UnimplementedConsumerServiceServer
	pb.UnimplementedDiscoveryServer
	pb.UnimplementedHealthCheckServer
	b *Broker
}

func errInvalidTopic(name string) error {
	return status.Errorf(codes.InvalidArgument, "The topic: %s has an invalid format, should be: /namespace_name/topic_name", name)
}

func errRedirect() error {
	return status.Error(codes.Unavailable, "The topic exists but is served by another broker, redo the Lookup request")
}

// getOrCreateTopic returns the topic served by this broker, creating it when
// allowed. reliable is the requested dispatch strategy (checked only for
// existing topics when checkStrategy is set).
func (b *Broker) getOrCreateTopic(ctx context.Context, name string, reliable, create bool) (*topic, error) {
	t, _, err := b.getOrCreateTopicFlag(ctx, name, reliable, create)
	return t, err
}

// getOrCreateTopicFlag is getOrCreateTopic that also reports whether this
// call created the topic.
func (b *Broker) getOrCreateTopicFlag(ctx context.Context, name string, reliable, create bool) (*topic, bool, error) {
	if !validTopicName(name) {
		return nil, false, errInvalidTopic(name)
	}
	c := b.cluster
	c.mu.Lock()
	t := c.topics[name]
	if t == nil {
		if !create {
			c.mu.Unlock()
			return nil, false, status.Errorf(codes.NotFound, "Unable to find the topic: %s", name)
		}
		ns := namespaceOf(name)
		if _, ok := c.namespaces[ns]; !ok {
			c.mu.Unlock()
			return nil, false, status.Errorf(codes.Unavailable, "Unable to find the namespace %s, the topic can be created only for an exisiting namespace", ns)
		}
		if err := c.conflictLocked(name); err != nil {
			c.mu.Unlock()
			return nil, false, err
		}
		owner := b
		if c.placement != nil {
			owner = c.placement
		}
		t = newTopic(c, name, reliable, owner)
		c.topics[name] = t
		c.mu.Unlock()
		if owner != b {
			return nil, true, status.Error(codes.Unavailable, "The topic metadata was created, need to redo the lookup to find the correct broker")
		}
		return t, true, nil
	}
	c.mu.Unlock()
	if !b.servesTopic(ctx, t) {
		return nil, false, errRedirect()
	}
	return t, false, nil
}

// --- ProducerService ---

func (s *service) CreateProducer(ctx context.Context, req *pb.ProducerRequest) (*pb.ProducerResponse, error) {
	b := s.b
	reliable := req.DispatchStrategy == pb.DispatchStrategy_Reliable
	if !validTopicName(req.TopicName) {
		return nil, errInvalidTopic(req.TopicName)
	}
	t, created, err := b.getOrCreateTopicFlag(ctx, req.TopicName, reliable, !b.opts.DisableAutoCreate)
	if err != nil {
		return nil, err
	}
	if t.reliable != reliable {
		return nil, status.Error(codes.FailedPrecondition, "Producer requested dispatch strategy does not match topic strategy")
	}
	if created && req.SchemaRef != nil {
		// Observed on danube-broker v0.15.1: the producer that auto-creates
		// a topic is not checked against the registry and does not assign
		// its subject; the topic's validation policy becomes "warn".
		t.mu.Lock()
		t.validation.policy = "warn"
		t.mu.Unlock()
	} else if subject := req.GetSchemaRef().GetSubject(); req.SchemaRef != nil {
		if !b.cluster.schemas.subjectExists(subject) {
			return nil, status.Errorf(codes.FailedPrecondition, "Failed to assign schema '%s' to topic '%s': subject '%s' not found. Ensure schema is registered first.", subject, t.name, subject)
		}
		t.mu.Lock()
		cur := t.schemaSubject
		if cur == "" {
			t.schemaSubject = subject
		}
		t.mu.Unlock()
		if cur != "" && cur != subject {
			return nil, status.Errorf(codes.FailedPrecondition, "Topic '%s' uses schema subject '%s', cannot use '%s'. Only admin can change topic schema.", t.name, cur, subject)
		}
	}

	c := b.cluster
	c.mu.Lock()
	defer c.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.producers[req.ProducerName]; p != nil {
		return &pb.ProducerResponse{RequestId: req.RequestId, ProducerId: p.id, ProducerName: p.name}, nil
	}
	p := &producer{id: c.newIDLocked(), name: req.ProducerName, topic: t, access: req.ProducerAccessMode}
	t.producers[p.name] = p
	c.producers[p.id] = p
	return &pb.ProducerResponse{RequestId: req.RequestId, ProducerId: p.id, ProducerName: p.name}, nil
}

func (s *service) SendMessage(ctx context.Context, req *pb.StreamMessage) (*pb.MessageResponse, error) {
	b := s.b
	if req.MsgId == nil {
		// The real broker panics here; answering InvalidArgument is kinder.
		return nil, status.Error(codes.InvalidArgument, "Message ID cannot be None")
	}
	c := b.cluster
	c.mu.RLock()
	p := c.producers[req.MsgId.ProducerId]
	c.mu.RUnlock()
	if p == nil || p.topic.name != req.MsgId.TopicName {
		return nil, status.Errorf(codes.NotFound, "The producer with id %d does not exist", req.MsgId.ProducerId)
	}
	if len(req.Payload) > b.opts.MaxMessageSize {
		return nil, status.Errorf(codes.InvalidArgument, "The message size %d exceeds the maximum allowed size %d", len(req.Payload), b.opts.MaxMessageSize)
	}
	t := p.topic
	if !b.servesTopic(ctx, t) {
		return nil, status.Error(codes.PermissionDenied, "Unable to publish the message: the topic is served by another broker, retry lookup")
	}
	t.mu.RLock()
	validation := t.validation
	t.mu.RUnlock()
	if validation.policy != "" && validation.policy != "none" {
		if err := b.cluster.schemas.validatePayload(validation, req); err != nil {
			return nil, err
		}
	}
	m := cloneForTopic(req, t.name)
	m.MsgId.TopicOffset = req.MsgId.TopicOffset
	t.publish(m)
	return &pb.MessageResponse{RequestId: req.RequestId}, nil
}

// --- ConsumerService ---

func (s *service) Subscribe(ctx context.Context, req *pb.ConsumerRequest) (*pb.ConsumerResponse, error) {
	b := s.b
	t, err := b.getOrCreateTopic(ctx, req.TopicName, false, false)
	if err != nil {
		if status.Code(err) == codes.NotFound {
			return nil, status.Errorf(codes.NotFound, "Unable to find the topic: %s", req.TopicName)
		}
		return nil, err
	}
	cfg := b.cluster.subConfig(t.name, req.Subscription)

	c := b.cluster
	c.mu.Lock()
	defer c.mu.Unlock()
	t.mu.Lock()
	sub := t.subs[req.Subscription]
	if sub == nil {
		sub = newSubscription(t, req.Subscription, req.SubscriptionType, b, cfg)
		t.subs[sub.name] = sub
	}
	t.mu.Unlock()

	sub.mu.Lock()
	defer sub.mu.Unlock()
	for _, cs := range sub.consumers {
		if cs.name == req.ConsumerName {
			// Same name: same id, reactivated, the old stream is taken over.
			sub.detachLocked(cs)
			cs.active = true
			cs.filters = req.KeyFilters
			return &pb.ConsumerResponse{RequestId: req.RequestId, ConsumerId: cs.id, ConsumerName: cs.name}, nil
		}
	}
	if sub.subType == pb.ConsumerRequest_Exclusive && len(sub.consumers) > 0 {
		return nil, status.Errorf(codes.PermissionDenied, "Not able to subscribe to the topic %s due to Not allowed to add the Consumer: %s, the Exclusive subscription can't be shared with other consumers", t.name, req.ConsumerName)
	}
	cs := &consumer{id: c.newIDLocked(), name: req.ConsumerName, sub: sub, filters: req.KeyFilters, active: true}
	sub.addConsumerLocked(cs)
	c.consumers[cs.id] = cs
	return &pb.ConsumerResponse{RequestId: req.RequestId, ConsumerId: cs.id, ConsumerName: cs.name}, nil
}

func (s *service) ReceiveMessages(req *pb.ReceiveRequest, stream grpc.ServerStreamingServer[pb.StreamMessage]) error {
	b := s.b
	b.cluster.mu.RLock()
	c := b.cluster.consumers[req.ConsumerId]
	b.cluster.mu.RUnlock()
	if c == nil {
		return status.Errorf(codes.NotFound, "The consumer with the id %d does not exist", req.ConsumerId)
	}
	sub := c.sub
	cs := &consumerStream{ch: make(chan *pb.StreamMessage, sub.streamCap()), done: make(chan struct{})}
	sub.attach(c, cs)
	defer sub.detach(c, cs)
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-cs.done:
			return status.Error(codes.Unavailable, "The consumer stream was closed by the broker")
		case m := <-cs.ch:
			if err := stream.Send(m); err != nil {
				return err
			}
		}
	}
}

func (s *service) subscriptionFor(msgID *pb.MsgID, subName, op string) (*subscription, *topic, error) {
	if msgID == nil {
		// The real broker panics on a missing msg_id.
		return nil, nil, status.Errorf(codes.InvalidArgument, "Error %s message: missing msg_id", op)
	}
	t := s.b.cluster.topic(msgID.TopicName)
	if t == nil {
		return nil, nil, status.Errorf(codes.Internal, "Error %s message: Topic %s not found in registry", op, msgID.TopicName)
	}
	t.mu.RLock()
	sub := t.subs[subName]
	t.mu.RUnlock()
	if sub == nil {
		return nil, nil, status.Errorf(codes.Internal, "Error %s message: Subscription not found", op)
	}
	return sub, t, nil
}

func (s *service) Ack(ctx context.Context, req *pb.AckRequest) (*pb.AckResponse, error) {
	sub, t, err := s.subscriptionFor(req.MsgId, req.SubscriptionName, "acknowledging")
	if err != nil {
		return nil, err
	}
	if t.reliable {
		sub.ack(t.positions(req.MsgId.TopicOffset))
	}
	return &pb.AckResponse{RequestId: req.RequestId}, nil
}

func (s *service) Nack(ctx context.Context, req *pb.NackRequest) (*pb.NackResponse, error) {
	sub, t, err := s.subscriptionFor(req.MsgId, req.SubscriptionName, "negatively acknowledging")
	if err != nil {
		return nil, err
	}
	if t.reliable {
		sub.nack(t.positions(req.MsgId.TopicOffset), time.Duration(req.GetDelayMs())*time.Millisecond)
	}
	return &pb.NackResponse{RequestId: req.RequestId}, nil
}

// --- Discovery ---

func (s *service) TopicLookup(ctx context.Context, req *pb.TopicLookupRequest) (*pb.TopicLookupResponse, error) {
	b := s.b
	c := b.cluster
	c.mu.RLock()
	t := c.topics[req.Topic]
	var owner *Broker
	if t != nil {
		owner = t.owner
	}
	c.mu.RUnlock()
	if t == nil || owner == nil {
		return nil, status.Errorf(codes.NotFound, "Unable to find the requested topic: %s", req.Topic)
	}
	if owner == b {
		return &pb.TopicLookupResponse{RequestId: req.RequestId, ResponseType: pb.TopicLookupResponse_Connect,
			BrokerUrl: b.URL(), ConnectUrl: b.connectURLValue(), Proxy: b.opts.Proxy}, nil
	}
	bu, cu := owner.URL(), owner.connectURLValue()
	return &pb.TopicLookupResponse{RequestId: req.RequestId, ResponseType: pb.TopicLookupResponse_Redirect,
		BrokerUrl: bu, ConnectUrl: cu, Proxy: bu != cu}, nil
}

func (b *Broker) connectURLValue() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.connectURL
}

func (s *service) TopicPartitions(ctx context.Context, req *pb.TopicLookupRequest) (*pb.TopicPartitionsResponse, error) {
	return &pb.TopicPartitionsResponse{RequestId: req.RequestId, Partitions: s.b.cluster.topicPartitions(req.Topic)}, nil
}

// --- HealthCheck ---

func (s *service) HealthCheck(ctx context.Context, req *pb.HealthCheckRequest) (*pb.HealthCheckResponse, error) {
	c := s.b.cluster
	ok := false
	switch req.Client {
	case pb.HealthCheckRequest_Producer:
		c.mu.RLock()
		_, ok = c.producers[req.Id]
		c.mu.RUnlock()
	case pb.HealthCheckRequest_Consumer:
		c.mu.RLock()
		cs := c.consumers[req.Id]
		c.mu.RUnlock()
		if cs != nil {
			cs.sub.mu.Lock()
			ok = cs.active
			cs.sub.mu.Unlock()
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "Invalid client type")
	}
	st := pb.HealthCheckResponse_CLOSE
	if ok {
		st = pb.HealthCheckResponse_OK
	}
	return &pb.HealthCheckResponse{Status: st}, nil
}
