package danubetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// BenchmarkReliableProduceConsume measures the broker's end-to-end cost with
// raw stubs: 16 or 1024 concurrent senders, one consumer stream with 16 ack
// workers.
func BenchmarkReliableProduceConsume(b *testing.B) {
	for _, senders := range []int{16, 1024} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) { benchProduceConsume(b, senders) })
	}
}

func benchProduceConsume(b *testing.B, benchSenders int) {
	br := Start(b, Options{MaxUnacked: 2000})
	c := dial(b, br.URL())
	const topic = "/default/bench"
	pid := c.producer(topic, "p", true)
	r := c.receive(c.subscribe(topic, "s", "c", pb.ConsumerRequest_Shared))
	payload := make([]byte, 1024)
	ctx := context.Background()

	var acked atomic.Int64
	done := make(chan struct{})
	var ackWG sync.WaitGroup
	for w := 0; w < 16; w++ {
		ackWG.Add(1)
		go func() {
			defer ackWG.Done()
			for {
				select {
				case m := <-r.msgs:
					if _, err := c.cons.Ack(ctx, &pb.AckRequest{MsgId: m.MsgId, SubscriptionName: "s"}); err != nil {
						b.Error(err)
						return
					}
					if acked.Add(1) == int64(b.N) {
						close(done)
					}
				case <-done:
					return
				}
			}
		}()
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	var sent atomic.Int64
	var sendWG sync.WaitGroup
	for w := 0; w < benchSenders; w++ {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			for sent.Add(1) <= int64(b.N) {
				if _, err := c.prod.SendMessage(ctx, &pb.StreamMessage{MsgId: &pb.MsgID{ProducerId: pid, TopicName: topic}, Payload: payload}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	sendWG.Wait()
	<-done
	ackWG.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}
