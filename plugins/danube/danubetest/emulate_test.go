package danubetest

import (
	"fmt"
	"testing"
	"time"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

func TestDefaultWindowIsTen(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	r := c.receive(c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive))
	for i := 0; i < 15; i++ {
		c.send("/default/t", pid, fmt.Sprint(i))
	}
	for i := 0; i < 10; i++ {
		r.next(t)
	}
	r.none(t, 100*time.Millisecond)
	st, _ := b.Stats("/default/t")
	if s := st.Subscriptions["s"]; s.Window != 10 || s.InFlight != 10 || s.LiveFeed {
		t.Fatalf("stats %+v, want window 10 with 10 in flight and no live feed", s)
	}
}

// TestLiveFeedSkip reproduces the v0.15.1 measurement (notes §19): a
// consumer that does not ack while 1,000 messages are published gets the
// first window and then the newest 256; the rest is never delivered.
func TestLiveFeedSkip(t *testing.T) {
	b := Start(t, Options{Emulate: Emulate{LiveFeedSkip: true}})
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	r := c.receive(c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive))
	for i := 0; i < 1000; i++ {
		c.send("/default/t", pid, fmt.Sprint(i))
	}
	var got []uint64
	for len(got) < 10+256 {
		m := r.next(t)
		got = append(got, m.MsgId.TopicOffset)
		c.ack(m, "s")
	}
	r.none(t, 200*time.Millisecond)
	for i := 0; i < 10; i++ {
		if got[i] != uint64(i) {
			t.Fatalf("offset #%d = %d, want %d", i, got[i], i)
		}
	}
	for i := 10; i < len(got); i++ {
		if want := uint64(1000 - 256 + i - 10); got[i] != want {
			t.Fatalf("offset #%d = %d, want %d", i, got[i], want)
		}
	}
	st, _ := b.Stats("/default/t")
	s := st.Subscriptions["s"]
	if s.Skipped != 1000-266 || len(s.SkippedRanges) != 1 || s.SkippedRanges[0] != [2]uint64{10, 1000 - 257} {
		t.Fatalf("stats %+v", s)
	}
	if s.AckedCursor != 10 {
		t.Fatalf("cursor %d, want frozen at the gap (10)", s.AckedCursor)
	}
	// A backlog within the feed's capacity is delivered completely.
	for i := 0; i < 200; i++ {
		c.send("/default/t", pid, "more")
	}
	for i := 0; i < 200; i++ {
		m := r.next(t)
		if m.MsgId.TopicOffset != uint64(1000+i) {
			t.Fatalf("got %d, want %d", m.MsgId.TopicOffset, 1000+i)
		}
		c.ack(m, "s")
	}
	if st, _ := b.Stats("/default/t"); st.Subscriptions["s"].Skipped != 1000-266 {
		t.Fatal("a backlog within the feed must not skip")
	}
}

func TestLiveFeedSkipOffByDefault(t *testing.T) {
	b := Start(t)
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	r := c.receive(c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive))
	for i := 0; i < 600; i++ {
		c.send("/default/t", pid, "x")
	}
	for i := 0; i < 600; i++ {
		m := r.next(t)
		if m.MsgId.TopicOffset != uint64(i) {
			t.Fatalf("got %d, want %d", m.MsgId.TopicOffset, i)
		}
		c.ack(m, "s")
	}
}

func TestOffsetResetOnRestart(t *testing.T) {
	b := Start(t, Options{Emulate: Emulate{OffsetResetOnRestart: true}, FailurePolicy: FailurePolicy{BaseRedeliveryDelay: 20 * time.Millisecond}})
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	r := c.receive(c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive))
	for i := 0; i < 5; i++ {
		c.send("/default/t", pid, fmt.Sprint("old", i))
	}
	var old []*pb.StreamMessage
	for i := 0; i < 5; i++ {
		old = append(old, r.next(t))
	}
	for _, m := range old[:3] {
		c.ack(m, "s")
	}
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	c = dial(t, b.URL())
	pid = c.producer("/default/t", "p", true)
	r = c.receive(c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive))
	for i := 0; i < 5; i++ {
		c.send("/default/t", pid, fmt.Sprint("new", i))
	}
	// Unacked old messages first, under their old offsets; then new ones
	// numbered from 0 again.
	want := []string{"old3@3", "old4@4", "new0@0", "new1@1", "new2@2", "new3@3", "new4@4"}
	var got []*pb.StreamMessage
	for i, w := range want {
		m := r.next(t)
		if g := fmt.Sprintf("%s@%d", m.Payload, m.MsgId.TopicOffset); g != w {
			t.Fatalf("message %d = %s, want %s", i, g, w)
		}
		got = append(got, m)
	}
	// Acks by offset reach the right message although offsets collide: ack
	// the new offset 3 and nack the old one; only the old one comes back.
	c.ack(got[5], "s")
	c.nack(got[0], "s", 0)
	if m := r.next(t); string(m.Payload) != "old3" {
		t.Fatalf("redelivered %s, want old3", m.Payload)
	}
	st, _ := b.Stats("/default/t")
	if s := st.Subscriptions["s"]; s.InFlight != 6 {
		t.Fatalf("in flight %d, want 6", s.InFlight)
	}
}

func TestIgnoredSubscriptionDispatch(t *testing.T) {
	b := Start(t, Options{MaxUnacked: 3, Emulate: Emulate{IgnoreSubscriptionDispatch: true}})
	c := dial(t, b.URL())
	pid := c.producer("/default/t", "p", true)
	b.SetSubscriptionDispatch("/default/t", "s", 100)
	r := c.receive(c.subscribe("/default/t", "s", "c", pb.ConsumerRequest_Exclusive))
	for i := 0; i < 6; i++ {
		c.send("/default/t", pid, fmt.Sprint(i))
	}
	for i := 0; i < 3; i++ {
		r.next(t)
	}
	r.none(t, 100*time.Millisecond)
	st, _ := b.Stats("/default/t")
	if s := st.Subscriptions["s"]; s.Window != 3 || s.StoredWindow != 100 {
		t.Fatalf("stats %+v, want window 3 used and 100 stored", s)
	}
}
