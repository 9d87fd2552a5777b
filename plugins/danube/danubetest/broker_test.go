package danubetest

import (
	"fmt"
	"testing"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

func TestReliableProduceConsumeAck(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	const topic = "/default/orders"
	pid := c.producer(topic, "p1", true)
	if again := c.producer(topic, "p1", true); again != pid {
		t.Fatalf("CreateProducer is not idempotent by name: %d then %d", pid, again)
	}
	c.send(topic, pid, "before-subscription")

	cid := c.subscribe(topic, "s", "c1", pb.ConsumerRequest_Exclusive)
	r := c.receive(cid)
	for i := 0; i < 5; i++ {
		c.send(topic, pid, fmt.Sprint("m", i))
	}
	for i := 0; i < 5; i++ {
		m := r.next(t)
		if string(m.Payload) != fmt.Sprint("m", i) || m.MsgId.TopicOffset != uint64(i+1) {
			t.Fatalf("message %d: got %q at offset %d", i, m.Payload, m.MsgId.TopicOffset)
		}
		if m.MsgId.TopicName != topic {
			t.Fatalf("topic name %q", m.MsgId.TopicName)
		}
		c.ack(m, "s")
	}
	eventually(t, "cursor at 6", func() bool {
		st, _ := b.Stats(topic)
		return st.Subscriptions["s"].AckedCursor == 6
	})
}

func TestRestartKeepsLogAndCursor(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	const topic = "/default/restart"
	pid := c.producer(topic, "p1", true)
	cid := c.subscribe(topic, "s", "c1", pb.ConsumerRequest_Exclusive)
	r := c.receive(cid)
	for i := 0; i < 4; i++ {
		c.send(topic, pid, fmt.Sprint("m", i))
	}
	m0 := r.next(t)
	c.ack(m0, "s")
	_ = r.next(t) // m1 stays unacked

	url := b.URL()
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if b.URL() != url {
		t.Fatalf("restart moved the broker from %s to %s", url, b.URL())
	}
	if st := c.health(pb.HealthCheckRequest_Producer, pid); st != pb.HealthCheckResponse_CLOSE {
		t.Fatalf("producer health after restart = %v, want CLOSE", st)
	}
	_, err := c.prod.SendMessage(testCtx(t), &pb.StreamMessage{MsgId: &pb.MsgID{ProducerId: pid, TopicName: topic}})
	wantCode(t, err, 5 /* NotFound */, "does not exist")

	cid2 := c.subscribe(topic, "s", "c1", pb.ConsumerRequest_Exclusive)
	r2 := c.receive(cid2)
	for i := 1; i < 4; i++ {
		m := r2.next(t)
		if string(m.Payload) != fmt.Sprint("m", i) {
			t.Fatalf("after restart got %q, want m%d", m.Payload, i)
		}
	}
}
