package danubetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// TestWireSemantics checks the observable behaviour the client relies on,
// using only the wire protocol. It runs against the double by default and
// against a real broker when DANUBE_BROKER_URL is set, so the double's
// fidelity can be checked (e.g. DANUBE_BROKER_URL=http://127.0.0.1:6650 after
// `danube-broker --mode standalone --data-dir DIR`).
func TestWireSemantics(t *testing.T) {
	url, _ := BrokerURL(t)
	c := dial(t, url)
	ctx := testCtx(t)
	run := fmt.Sprintf("w%d", time.Now().UnixNano()%1e12)
	topic := "/default/" + run

	t.Run("invalid topic name", func(t *testing.T) {
		_, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p", TopicName: "/default/bad.name-" + run})
		wantCode(t, err, codes.InvalidArgument, "has an invalid format, should be: /namespace_name/topic_name")
	})
	t.Run("missing namespace", func(t *testing.T) {
		_, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p", TopicName: "/nons" + run + "/t"})
		wantCode(t, err, codes.Unavailable, "Unable to find the namespace")
	})
	t.Run("lookup of unknown topic", func(t *testing.T) {
		_, err := c.disc.TopicLookup(ctx, &pb.TopicLookupRequest{Topic: topic + "-unknown"})
		wantCode(t, err, codes.NotFound, "Unable to find the requested topic")
	})
	t.Run("partitions of unknown topic", func(t *testing.T) {
		resp, err := c.disc.TopicPartitions(ctx, &pb.TopicLookupRequest{Topic: topic + "-unknown"})
		if err != nil || len(resp.Partitions) != 0 {
			t.Fatalf("got %v %v, want OK and empty", resp, err)
		}
	})
	t.Run("subscribe to unknown topic", func(t *testing.T) {
		_, err := c.cons.Subscribe(ctx, &pb.ConsumerRequest{TopicName: topic + "-unknown", ConsumerName: "c", Subscription: "s"})
		wantCode(t, err, codes.NotFound, "")
	})

	pid := c.producer(topic, "p", true)
	t.Run("producer idempotent by name", func(t *testing.T) {
		if again := c.producer(topic, "p", true); again != pid {
			t.Fatalf("ids %d and %d", pid, again)
		}
	})
	t.Run("dispatch strategy mismatch", func(t *testing.T) {
		_, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p2", TopicName: topic, DispatchStrategy: pb.DispatchStrategy_NonReliable})
		wantCode(t, err, codes.FailedPrecondition, "does not match topic strategy")
	})
	t.Run("partition name next to a plain topic", func(t *testing.T) {
		_, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p", TopicName: topic + "-part-0", DispatchStrategy: pb.DispatchStrategy_Reliable})
		wantCode(t, err, codes.AlreadyExists, "a non-partitioned topic '"+topic+"' already exists")
	})
	t.Run("lookup connect", func(t *testing.T) {
		resp, err := c.disc.TopicLookup(ctx, &pb.TopicLookupRequest{RequestId: 5, Topic: topic})
		if err != nil || resp.ResponseType != pb.TopicLookupResponse_Connect || !strings.HasPrefix(resp.BrokerUrl, "http") {
			t.Fatalf("lookup: %v %v", resp, err)
		}
	})
	t.Run("send with unknown producer", func(t *testing.T) {
		_, err := c.prod.SendMessage(ctx, &pb.StreamMessage{MsgId: &pb.MsgID{ProducerId: pid ^ 0x5a5a, TopicName: topic}, Payload: []byte("x")})
		wantCode(t, err, codes.NotFound, "does not exist")
	})
	t.Run("health", func(t *testing.T) {
		if s := c.health(pb.HealthCheckRequest_Producer, pid); s != pb.HealthCheckResponse_OK {
			t.Fatalf("producer health %v", s)
		}
		if s := c.health(pb.HealthCheckRequest_Consumer, pid^0x5a5a); s != pb.HealthCheckResponse_CLOSE {
			t.Fatalf("unknown consumer health %v", s)
		}
	})

	// Reliable dispatch: new subscription at the tail, offsets continue.
	c.send(topic, pid, "before")
	cid := c.subscribe(topic, "s", "c1", pb.ConsumerRequest_Exclusive)
	t.Run("exclusive taken", func(t *testing.T) {
		_, err := c.cons.Subscribe(ctx, &pb.ConsumerRequest{TopicName: topic, ConsumerName: "c2", Subscription: "s", SubscriptionType: pb.ConsumerRequest_Exclusive})
		wantCode(t, err, codes.PermissionDenied, "the Exclusive subscription can't be shared with other consumers")
	})
	t.Run("same consumer name same id", func(t *testing.T) {
		if id := c.subscribe(topic, "s", "c1", pb.ConsumerRequest_Exclusive); id != cid {
			t.Fatalf("ids %d and %d", cid, id)
		}
	})
	t.Run("receive unknown consumer", func(t *testing.T) {
		st, err := c.cons.ReceiveMessages(ctx, &pb.ReceiveRequest{ConsumerId: cid ^ 0x5a5a})
		if err == nil {
			_, err = st.Recv()
		}
		wantCode(t, err, codes.NotFound, "")
	})
	r := c.receive(cid)
	for i := 0; i < 3; i++ {
		c.send(topic, pid, fmt.Sprint("m", i))
	}
	t.Run("starts at tail with WAL offsets", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			m := r.next(t)
			if string(m.Payload) != fmt.Sprint("m", i) || m.MsgId.TopicOffset != uint64(i+1) || m.MsgId.TopicName != topic {
				t.Fatalf("got %q at %s@%d, want m%d at offset %d", m.Payload, m.MsgId.TopicName, m.MsgId.TopicOffset, i, i+1)
			}
			if i < 2 {
				c.ack(m, "s")
			} else {
				start := time.Now()
				c.nack(m, "s", 0)
				m2 := r.next(t)
				if m2.MsgId.TopicOffset != m.MsgId.TopicOffset {
					t.Fatalf("redelivered offset %d", m2.MsgId.TopicOffset)
				}
				t.Logf("nack with delay 0 redelivered after %v", time.Since(start).Round(time.Millisecond))
				c.ack(m2, "s")
			}
		}
	})
	t.Run("ack on unknown topic", func(t *testing.T) {
		_, err := c.cons.Ack(ctx, &pb.AckRequest{MsgId: &pb.MsgID{TopicName: topic + "-unknown"}, SubscriptionName: "s"})
		wantCode(t, err, codes.Internal, "")
	})
	t.Run("late ack is OK", func(t *testing.T) {
		if _, err := c.cons.Ack(ctx, &pb.AckRequest{MsgId: &pb.MsgID{TopicName: topic, TopicOffset: 1}, SubscriptionName: "s"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("partitions prefix scan", func(t *testing.T) {
		base := topic + "-pt"
		for _, n := range []string{base + "-part-0", base + "-part-1"} {
			c.producer(n, "p", false)
		}
		resp, err := c.disc.TopicPartitions(ctx, &pb.TopicLookupRequest{Topic: base})
		if err != nil || strings.Join(resp.Partitions, ",") != base+"-part-0,"+base+"-part-1" {
			t.Fatalf("partitions: %v %v", resp, err)
		}
	})

	t.Run("backlog beyond the window is delivered completely", func(t *testing.T) {
		// Observed with danube-broker v0.15.1 (debug build, standalone): a
		// backlog of 300 messages built while the consumer's window was full
		// is delivered as 266 (the first 256 and the last 10); the rest never
		// arrives. The double delivers everything; this subtest fails against
		// such a broker on purpose.
		bt := topic + "-backlog"
		bp := c.producer(bt, "p", true)
		r := c.receive(c.subscribe(bt, "s", "c", pb.ConsumerRequest_Shared))
		const n = 300
		for i := 0; i < n; i++ {
			c.send(bt, bp, fmt.Sprint(i))
		}
		seen := map[uint64]bool{}
		deadline := time.After(10 * time.Second)
		for len(seen) < n {
			select {
			case m := <-r.msgs:
				seen[m.MsgId.TopicOffset] = true
				c.ack(m, "s")
			case err := <-r.errc:
				t.Fatalf("stream ended: %v", err)
			case <-deadline:
				t.Fatalf("received %d of %d backlogged messages within 10s", len(seen), n)
			}
		}
	})

	t.Run("schema registry", func(t *testing.T) {
		subject := "subj-" + run
		r1, err := c.sr.RegisterSchema(ctx, &pb.RegisterSchemaRequest{Subject: subject, SchemaType: "json_schema", SchemaDefinition: []byte(userV1)})
		if err != nil || r1.Version != 1 || !r1.IsNewVersion {
			t.Fatalf("register: %v %v", r1, err)
		}
		again, err := c.sr.RegisterSchema(ctx, &pb.RegisterSchemaRequest{Subject: subject, SchemaType: "json_schema", SchemaDefinition: []byte(userV1Reordered)})
		if err != nil || again.IsNewVersion || again.SchemaId != r1.SchemaId || again.Fingerprint != r1.Fingerprint {
			t.Fatalf("dedup: %v %v (first %v)", again, err, r1)
		}
		_, err = c.sr.RegisterSchema(ctx, &pb.RegisterSchemaRequest{Subject: subject, SchemaType: "json_schema", SchemaDefinition: []byte(userRemovedReq)})
		wantCode(t, err, codes.Internal, "Schema is not compatible with subject '"+subject+"' (mode: Backward)")
		latest, err := c.sr.GetLatestSchema(ctx, &pb.GetLatestSchemaRequest{Subject: subject})
		if err != nil {
			t.Fatal(err)
		}
		var env map[string]json.RawMessage
		if err := json.Unmarshal(latest.SchemaDefinition, &env); err != nil || env["JsonSchema"] == nil || latest.CompatibilityMode != "backward" {
			t.Fatalf("envelope %s mode %q (%v)", latest.SchemaDefinition, latest.CompatibilityMode, err)
		}
		_, err = c.sr.GetLatestSchema(ctx, &pb.GetLatestSchemaRequest{Subject: subject + "-missing"})
		wantCode(t, err, codes.NotFound, "")
		// The producer that creates a topic is not checked against the
		// registry; a later producer on the existing topic is.
		if _, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p", TopicName: topic + "-schema", SchemaRef: &pb.SchemaReference{Subject: subject + "-missing"}}); err != nil {
			t.Fatalf("auto-creating producer with an unknown subject: %v", err)
		}
		_, err = c.prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p2", TopicName: topic + "-schema", SchemaRef: &pb.SchemaReference{Subject: subject + "-missing"}})
		wantCode(t, err, codes.FailedPrecondition, "Ensure schema is registered first")
		_, err = c.sr.GetSchema(ctx, &pb.GetSchemaRequest{SchemaId: 1 << 40})
		wantCode(t, err, codes.NotFound, "Schema not found for ID")
		_, err = c.sr.CheckCompatibility(ctx, &pb.CheckCompatibilityRequest{Subject: subject + "-missing", SchemaType: "string"})
		wantCode(t, err, codes.Internal, "Schema metadata not found for subject")
	})
}
