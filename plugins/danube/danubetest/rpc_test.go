package danubetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

func TestTopicNameValidation(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"/default/orders", true},
		{"/default/orders_2-x", true},
		{"/default/ördérs", true}, // Unicode alphanumerics are allowed
		{"/default/", true},       // empty parts pass, as in the real broker
		{"default/orders", false},
		{"/default/orders/extra", false},
		{"/default/or.ders", false},
		{"/default/or ders", false},
		{"", false},
		{"/default", false},
	}
	for _, tc := range cases {
		if got := validTopicName(tc.name); got != tc.ok {
			t.Errorf("validTopicName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
	b := Start(t)
	c := dial(t, b.URL())
	_, err := c.prod.CreateProducer(testCtx(t), &pb.ProducerRequest{ProducerName: "p", TopicName: "/default/bad.name"})
	wantCode(t, err, codes.InvalidArgument, "The topic: /default/bad.name has an invalid format, should be: /namespace_name/topic_name")
}

func TestCreateProducerErrors(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	ctx := testCtx(t)
	c.producer("/default/rel", "p", true)
	c.producer("/default/part-base-part-0", "p", true)
	c.producer("/default/plain", "p", false)

	cases := []struct {
		desc string
		req  *pb.ProducerRequest
		code codes.Code
		msg  string
	}{
		{"missing namespace is Unavailable like the real broker", &pb.ProducerRequest{ProducerName: "p", TopicName: "/nons/t"}, codes.Unavailable, "Unable to find the namespace nons"},
		{"dispatch strategy mismatch", &pb.ProducerRequest{ProducerName: "p2", TopicName: "/default/rel", DispatchStrategy: pb.DispatchStrategy_NonReliable}, codes.FailedPrecondition, "does not match topic strategy"},
		{"base name of existing partitions", &pb.ProducerRequest{ProducerName: "p", TopicName: "/default/part-base"}, codes.AlreadyExists, ""},
		{"partition of existing plain topic", &pb.ProducerRequest{ProducerName: "p", TopicName: "/default/plain-part-1"}, codes.AlreadyExists, ""},
		{"unregistered schema subject", &pb.ProducerRequest{ProducerName: "p", TopicName: "/default/rel", DispatchStrategy: pb.DispatchStrategy_Reliable, SchemaRef: &pb.SchemaReference{Subject: "nope"}}, codes.FailedPrecondition, "Ensure schema is registered first"},
	}
	for _, tc := range cases {
		_, err := c.prod.CreateProducer(ctx, tc.req)
		t.Run(tc.desc, func(t *testing.T) { wantCode(t, err, tc.code, tc.msg) })
	}

	b.CreateNamespace("other")
	c.producer("/other/t", "p", false)

	nb := Start(t, Options{DisableAutoCreate: true})
	_, err := dial(t, nb.URL()).prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p", TopicName: "/default/x"})
	wantCode(t, err, codes.NotFound, "Unable to find the topic")
}

func TestSendMessageErrors(t *testing.T) {
	b := Start(t, Options{MaxMessageSize: 16})
	c := dial(t, b.URL())
	ctx := testCtx(t)
	pid := c.producer("/default/t", "p", true)
	cases := []struct {
		desc string
		msg  *pb.StreamMessage
		code codes.Code
		text string
	}{
		{"nil msg_id", &pb.StreamMessage{RequestId: 1}, codes.InvalidArgument, "Message ID cannot be None"},
		{"unknown producer", &pb.StreamMessage{MsgId: &pb.MsgID{ProducerId: pid + 1, TopicName: "/default/t"}}, codes.NotFound, "does not exist"},
		{"producer of another topic", &pb.StreamMessage{MsgId: &pb.MsgID{ProducerId: pid, TopicName: "/default/other"}}, codes.NotFound, "does not exist"},
		{"too large", &pb.StreamMessage{MsgId: &pb.MsgID{ProducerId: pid, TopicName: "/default/t"}, Payload: make([]byte, 17)}, codes.InvalidArgument, "exceeds"},
	}
	for _, tc := range cases {
		_, err := c.prod.SendMessage(ctx, tc.msg)
		t.Run(tc.desc, func(t *testing.T) { wantCode(t, err, tc.code, tc.text) })
	}
	resp, err := c.prod.SendMessage(ctx, &pb.StreamMessage{RequestId: 42, MsgId: &pb.MsgID{ProducerId: pid, TopicName: "/default/t"}, Payload: []byte("ok")})
	if err != nil || resp.RequestId != 42 {
		t.Fatalf("send: %v %v (request id must be echoed)", resp, err)
	}
}

func TestSubscribeAndReceiveErrors(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	ctx := testCtx(t)
	_, err := c.cons.Subscribe(ctx, &pb.ConsumerRequest{TopicName: "/default/missing", ConsumerName: "c", Subscription: "s"})
	wantCode(t, err, codes.NotFound, "/default/missing")
	_, err = c.cons.Subscribe(ctx, &pb.ConsumerRequest{TopicName: "bad", ConsumerName: "c", Subscription: "s"})
	wantCode(t, err, codes.InvalidArgument, "invalid format")

	c.producer("/default/t", "p", true)
	id1 := c.subscribe("/default/t", "s", "c1", pb.ConsumerRequest_Exclusive)
	if id := c.subscribe("/default/t", "s", "c1", pb.ConsumerRequest_Exclusive); id != id1 {
		t.Fatalf("same consumer name got a new id")
	}
	_, err = c.cons.Subscribe(ctx, &pb.ConsumerRequest{TopicName: "/default/t", ConsumerName: "c2", Subscription: "s"})
	wantCode(t, err, codes.PermissionDenied, "Exclusive")

	st, err := c.cons.ReceiveMessages(ctx, &pb.ReceiveRequest{ConsumerId: id1 + 1})
	if err == nil {
		_, err = st.Recv()
	}
	wantCode(t, err, codes.NotFound, "does not exist")
}

func TestAckNackErrors(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	ctx := testCtx(t)
	pid := c.producer("/default/t", "p", true)
	cid := c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Shared)
	_, err := c.cons.Ack(ctx, &pb.AckRequest{MsgId: &pb.MsgID{TopicName: "/default/none"}, SubscriptionName: "s"})
	wantCode(t, err, codes.Internal, "not found in registry")
	_, err = c.cons.Ack(ctx, &pb.AckRequest{MsgId: &pb.MsgID{TopicName: "/default/t"}, SubscriptionName: "nosub"})
	wantCode(t, err, codes.Internal, "Subscription not found")
	_, err = c.cons.Nack(ctx, &pb.NackRequest{MsgId: &pb.MsgID{TopicName: "/default/none"}, SubscriptionName: "s"})
	wantCode(t, err, codes.Internal, "not found in registry")
	_, err = c.cons.Ack(ctx, &pb.AckRequest{SubscriptionName: "s"})
	wantCode(t, err, codes.InvalidArgument, "msg_id")
	// Late and unknown acks are silently accepted.
	if _, err := c.cons.Ack(ctx, &pb.AckRequest{MsgId: &pb.MsgID{TopicName: "/default/t", TopicOffset: 999}, SubscriptionName: "s"}); err != nil {
		t.Fatalf("unknown offset ack: %v", err)
	}
	r := c.receive(cid)
	c.send("/default/t", pid, "x")
	m := r.next(t)
	c.ack(m, "s")
	c.ack(m, "s")
}

func TestLookupAndPartitions(t *testing.T) {
	b := Start(t, Options{Proxy: true})
	c := dial(t, b.URL())
	ctx := testCtx(t)
	_, err := c.disc.TopicLookup(ctx, &pb.TopicLookupRequest{Topic: "/default/x"})
	wantCode(t, err, codes.NotFound, "Unable to find the requested topic: /default/x")

	for _, n := range []string{"/default/orders-part-0", "/default/orders-part-1", "/default/orders-part-10", "/default/orders-part-2", "/default/orders2"} {
		c.producer(n, "p", false)
	}
	resp, err := c.disc.TopicLookup(ctx, &pb.TopicLookupRequest{RequestId: 9, Topic: "/default/orders-part-0"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ResponseType != pb.TopicLookupResponse_Connect || resp.BrokerUrl != b.URL() || resp.ConnectUrl != b.URL() || !resp.Proxy || resp.RequestId != 9 {
		t.Fatalf("lookup = %v", resp)
	}
	parts, err := c.disc.TopicPartitions(ctx, &pb.TopicLookupRequest{Topic: "/default/orders"})
	if err != nil {
		t.Fatal(err)
	}
	// Raw prefix scan, lexicographic, like the real broker.
	want := "/default/orders-part-0,/default/orders-part-1,/default/orders-part-10,/default/orders-part-2,/default/orders2"
	if got := strings.Join(parts.Partitions, ","); got != want {
		t.Fatalf("partitions = %s, want %s", got, want)
	}
	parts, _ = c.disc.TopicPartitions(ctx, &pb.TopicLookupRequest{Topic: "/default/orders2"})
	if len(parts.Partitions) != 1 {
		t.Fatalf("existing topic must list only itself: %v", parts.Partitions)
	}
	parts, err = c.disc.TopicPartitions(ctx, &pb.TopicLookupRequest{Topic: "/default/unknown"})
	if err != nil || len(parts.Partitions) != 0 {
		t.Fatalf("unknown topic: %v %v, want OK and empty", parts, err)
	}
}

func TestHealthCheck(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	cid := c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Shared)
	if s := c.health(pb.HealthCheckRequest_Producer, pid); s != pb.HealthCheckResponse_OK {
		t.Fatalf("producer: %v", s)
	}
	if s := c.health(pb.HealthCheckRequest_Consumer, cid); s != pb.HealthCheckResponse_OK {
		t.Fatalf("consumer: %v", s)
	}
	if s := c.health(pb.HealthCheckRequest_Producer, 12345); s != pb.HealthCheckResponse_CLOSE {
		t.Fatalf("unknown producer: %v", s)
	}
	_, err := c.hc.HealthCheck(testCtx(t), &pb.HealthCheckRequest{Client: 7, Id: pid})
	wantCode(t, err, codes.InvalidArgument, "Invalid client type")

	// A consumer whose stream dropped is inactive: CLOSE.
	r := c.receive(cid)
	eventually(t, "stream attached", func() bool { st, _ := b.Stats("/default/t"); return st.Subscriptions["s"].Streaming == 1 })
	r.cancel()
	eventually(t, "consumer CLOSE", func() bool { return c.health(pb.HealthCheckRequest_Consumer, cid) == pb.HealthCheckResponse_CLOSE })
	// Re-subscribing reactivates it.
	if id := c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Shared); id != cid {
		t.Fatal("re-subscribe changed the id")
	}
	if s := c.health(pb.HealthCheckRequest_Consumer, cid); s != pb.HealthCheckResponse_OK {
		t.Fatalf("re-subscribed consumer: %v", s)
	}
	// Closing the topic closes producers and consumers.
	b.CloseTopic("/default/t")
	if c.health(pb.HealthCheckRequest_Producer, pid) != pb.HealthCheckResponse_CLOSE || c.health(pb.HealthCheckRequest_Consumer, cid) != pb.HealthCheckResponse_CLOSE {
		t.Fatal("CloseTopic must make health checks answer CLOSE")
	}
}

func TestAuth(t *testing.T) {
	secret := []byte("s3cret")
	b := Start(t, Options{Auth: &AuthOptions{Secret: secret, Deny: []string{"mallory"}}})
	c := dial(t, b.URL())
	good, err := MintToken(secret, "alice", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := MintToken([]byte("other"), "alice", time.Minute)
	expired, _ := MintToken(secret, "alice", -time.Minute)
	denied, _ := MintToken(secret, "mallory", time.Minute)
	cases := []struct {
		desc string
		md   []string
		code codes.Code
		msg  string
	}{
		{"missing", nil, codes.Unauthenticated, "Authentication credentials are missing"},
		{"not bearer", []string{"authorization", "Basic abc"}, codes.Unauthenticated, "Authentication metadata is invalid"},
		{"wrong key", []string{"authorization", "Bearer " + bad}, codes.Unauthenticated, "Invalid token"},
		{"expired", []string{"authorization", "Bearer " + expired}, codes.Unauthenticated, "Invalid token"},
		{"garbage", []string{"authorization", "Bearer xyz"}, codes.Unauthenticated, "Invalid token"},
		{"denied principal", []string{"authorization", "Bearer " + denied}, codes.PermissionDenied, "no binding grants"},
		{"valid", []string{"authorization", "Bearer " + good}, codes.OK, ""},
		{"lowercase bearer", []string{"authorization", "bearer " + good}, codes.OK, ""},
	}
	for _, tc := range cases {
		ctx := testCtx(t)
		if tc.md != nil {
			ctx = metadata.AppendToOutgoingContext(ctx, tc.md...)
		}
		_, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p", TopicName: "/default/auth"})
		t.Run(tc.desc, func(t *testing.T) { wantCode(t, err, tc.code, tc.msg) })
	}
	// A denied principal still passes health checks (authentication only).
	ctx := metadata.AppendToOutgoingContext(testCtx(t), "authorization", "Bearer "+denied)
	if _, err := c.hc.HealthCheck(ctx, &pb.HealthCheckRequest{Id: 1}); err != nil {
		t.Fatalf("health with denied principal: %v", err)
	}
	if got := b.HeaderValues("authorization"); len(got) == 0 {
		t.Fatal("authorization header not recorded")
	}
}

func TestFaultInjection(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	b.FailNext("SendMessage", codes.Unavailable, 2)
	for i := 0; i < 2; i++ {
		_, err := c.prod.SendMessage(testCtx(t), &pb.StreamMessage{MsgId: &pb.MsgID{ProducerId: pid, TopicName: "/default/t"}})
		wantCode(t, err, codes.Unavailable, "injected")
	}
	c.send("/default/t", pid, "third works")

	b.FailNext("/danube.Discovery/TopicLookup", codes.ResourceExhausted, 1)
	_, err := c.disc.TopicLookup(testCtx(t), &pb.TopicLookupRequest{Topic: "/default/t"})
	wantCode(t, err, codes.ResourceExhausted, "")

	b.SetDelay("TopicLookup", 300*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.disc.TopicLookup(ctx, &pb.TopicLookupRequest{Topic: "/default/t"})
	wantCode(t, err, codes.DeadlineExceeded, "")
	b.SetDelay("TopicLookup", 0)
	if _, err := c.disc.TopicLookup(testCtx(t), &pb.TopicLookupRequest{Topic: "/default/t"}); err != nil {
		t.Fatal(err)
	}
}

func TestRedirectAndProxy(t *testing.T) {
	cl := NewCluster()
	a := Start(t, Options{Cluster: cl})
	owner := Start(t, Options{Cluster: cl})
	ca, co := dial(t, a.URL()), dial(t, owner.URL())
	ctx := testCtx(t)

	// Cluster-mode auto-create: metadata created, client told to redo the lookup.
	cl.PlaceNewTopicsOn(owner)
	_, err := ca.prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p", TopicName: "/default/moved", DispatchStrategy: pb.DispatchStrategy_Reliable})
	wantCode(t, err, codes.Unavailable, "redo the lookup")
	cl.PlaceNewTopicsOn(nil)

	resp, err := ca.disc.TopicLookup(ctx, &pb.TopicLookupRequest{Topic: "/default/moved"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ResponseType != pb.TopicLookupResponse_Redirect || resp.BrokerUrl != owner.URL() || resp.ConnectUrl != owner.URL() || resp.Proxy {
		t.Fatalf("lookup on non-owner = %v", resp)
	}
	_, err = ca.prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p", TopicName: "/default/moved", DispatchStrategy: pb.DispatchStrategy_Reliable})
	wantCode(t, err, codes.Unavailable, "redo the Lookup request")
	_, err = ca.cons.Subscribe(ctx, &pb.ConsumerRequest{TopicName: "/default/moved", ConsumerName: "c", Subscription: "s"})
	wantCode(t, err, codes.Unavailable, "redo the Lookup request")
	co.producer("/default/moved", "p", true)

	// Proxy: the owner advertises a connect URL (the proxy, here broker a);
	// clients then call a with x-danube-broker-url naming the owner.
	proxied := Start(t, Options{Cluster: cl, ConnectURL: a.URL()})
	cl.PlaceNewTopicsOn(proxied)
	_, err = ca.prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p", TopicName: "/default/proxied"})
	wantCode(t, err, codes.Unavailable, "redo the lookup")
	resp, err = ca.disc.TopicLookup(ctx, &pb.TopicLookupRequest{Topic: "/default/proxied"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ResponseType != pb.TopicLookupResponse_Redirect || resp.ConnectUrl != a.URL() || resp.BrokerUrl != proxied.URL() || !resp.Proxy {
		t.Fatalf("proxy lookup = %v", resp)
	}
	pctx := metadata.AppendToOutgoingContext(ctx, ProxyHeader, resp.BrokerUrl)
	if _, err := ca.prod.CreateProducer(pctx, &pb.ProducerRequest{ProducerName: "p", TopicName: "/default/proxied"}); err != nil {
		t.Fatalf("create through proxy: %v", err)
	}
	if got := a.HeaderValues(ProxyHeader); len(got) != 1 || got[0] != proxied.URL() {
		t.Fatalf("recorded proxy header = %v", got)
	}

	// Moving a topic drops its clients and flips the lookup.
	if !cl.AssignTopic("/default/moved", a) {
		t.Fatal("AssignTopic")
	}
	resp, _ = ca.disc.TopicLookup(ctx, &pb.TopicLookupRequest{Topic: "/default/moved"})
	if resp.ResponseType != pb.TopicLookupResponse_Connect || resp.BrokerUrl != a.URL() {
		t.Fatalf("after move: %v", resp)
	}
}
