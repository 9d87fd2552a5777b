package danubetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// rawClient talks to a broker with the generated stubs only.
type rawClient struct {
	t    testing.TB
	conn *grpc.ClientConn
	prod pb.ProducerServiceClient
	cons pb.ConsumerServiceClient
	disc pb.DiscoveryClient
	hc   pb.HealthCheckClient
	sr   pb.SchemaRegistryClient
}

func dial(t testing.TB, url string, opts ...grpc.DialOption) *rawClient {
	t.Helper()
	addr := strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://")
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn,
		prod: pb.NewProducerServiceClient(conn), cons: pb.NewConsumerServiceClient(conn),
		disc: pb.NewDiscoveryClient(conn), hc: pb.NewHealthCheckClient(conn), sr: pb.NewSchemaRegistryClient(conn)}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (c *rawClient) producer(topic, name string, reliable bool) uint64 {
	c.t.Helper()
	ds := pb.DispatchStrategy_NonReliable
	if reliable {
		ds = pb.DispatchStrategy_Reliable
	}
	resp, err := c.prod.CreateProducer(testCtx(c.t), &pb.ProducerRequest{RequestId: 1, ProducerName: name, TopicName: topic, DispatchStrategy: ds})
	if err != nil {
		c.t.Fatalf("creating producer %s on %s: %v", name, topic, err)
	}
	return resp.ProducerId
}

func (c *rawClient) send(topic string, pid uint64, payload string) {
	c.t.Helper()
	_, err := c.prod.SendMessage(testCtx(c.t), &pb.StreamMessage{RequestId: 7, MsgId: &pb.MsgID{ProducerId: pid, TopicName: topic}, Payload: []byte(payload), ProducerName: "p"})
	if err != nil {
		c.t.Fatalf("sending to %s: %v", topic, err)
	}
}

func (c *rawClient) sendKey(topic string, pid uint64, payload, key string) {
	c.t.Helper()
	_, err := c.prod.SendMessage(testCtx(c.t), &pb.StreamMessage{RequestId: 7, MsgId: &pb.MsgID{ProducerId: pid, TopicName: topic}, Payload: []byte(payload), RoutingKey: &key})
	if err != nil {
		c.t.Fatalf("sending to %s: %v", topic, err)
	}
}

func (c *rawClient) subscribe(topic, sub, name string, typ pb.ConsumerRequest_SubscriptionType, filters ...string) uint64 {
	c.t.Helper()
	resp, err := c.cons.Subscribe(testCtx(c.t), &pb.ConsumerRequest{RequestId: 1, TopicName: topic, ConsumerName: name, Subscription: sub, SubscriptionType: typ, KeyFilters: filters})
	if err != nil {
		c.t.Fatalf("subscribing %s/%s on %s: %v", sub, name, topic, err)
	}
	return resp.ConsumerId
}

// receiver reads one ReceiveMessages stream into a channel.
type receiver struct {
	msgs   chan *pb.StreamMessage
	errc   chan error
	cancel context.CancelFunc
}

func (c *rawClient) receive(id uint64) *receiver {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c.t.Cleanup(cancel)
	st, err := c.cons.ReceiveMessages(ctx, &pb.ReceiveRequest{RequestId: 1, ConsumerId: id})
	if err != nil {
		c.t.Fatalf("receiving: %v", err)
	}
	r := &receiver{msgs: make(chan *pb.StreamMessage, 100000), errc: make(chan error, 1), cancel: cancel}
	go func() {
		for {
			m, err := st.Recv()
			if err != nil {
				r.errc <- err
				return
			}
			r.msgs <- m
		}
	}()
	return r
}

func (r *receiver) next(t testing.TB) *pb.StreamMessage {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case err := <-r.errc:
		t.Fatalf("stream ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("no message within 10s")
	}
	return nil
}

// none asserts that nothing arrives within d.
func (r *receiver) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case m := <-r.msgs:
		t.Fatalf("unexpected message %q offset %d", m.Payload, m.MsgId.TopicOffset)
	case <-time.After(d):
	}
}

func (c *rawClient) ack(m *pb.StreamMessage, sub string) {
	c.t.Helper()
	if _, err := c.cons.Ack(testCtx(c.t), &pb.AckRequest{RequestId: 1, MsgId: m.MsgId, SubscriptionName: sub}); err != nil {
		c.t.Fatalf("acking: %v", err)
	}
}

func (c *rawClient) nack(m *pb.StreamMessage, sub string, delayMs uint64) {
	c.t.Helper()
	if _, err := c.cons.Nack(testCtx(c.t), &pb.NackRequest{RequestId: 1, MsgId: m.MsgId, SubscriptionName: sub, DelayMs: &delayMs}); err != nil {
		c.t.Fatalf("nacking: %v", err)
	}
}

func (c *rawClient) health(kind pb.HealthCheckRequest_ClientType, id uint64) pb.HealthCheckResponse_ClientStatus {
	c.t.Helper()
	var resp *pb.HealthCheckResponse
	var err error
	// The first call after a broker restart can hit the dead connection.
	for i := 0; i < 50; i++ {
		resp, err = c.hc.HealthCheck(testCtx(c.t), &pb.HealthCheckRequest{RequestId: 1, Client: kind, Id: id}, grpc.WaitForReady(true))
		if status.Code(err) != codes.Unavailable {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("health check: %v", err)
	}
	return resp.Status
}

func wantCode(t testing.TB, err error, code codes.Code, contains string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("got %v (%v), want code %v", st.Code(), err, code)
	}
	if contains != "" && !strings.Contains(st.Message(), contains) {
		t.Fatalf("message %q does not contain %q", st.Message(), contains)
	}
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func statusCode(err error) codes.Code { return status.Code(err) }
