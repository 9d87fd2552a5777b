package client_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
)

// processCPU is the CPU time (user+system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds a "cpu-ns/op" metric: the process CPU time (client and
// in-process broker together) per message since start. On a loaded machine
// it is steadier than ns/op; compare runs as ratios.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkSend measures one producer sending 1 KiB messages to the
// in-process test broker from many goroutines (client and broker share the
// CPU, so ns/op is the cost of both).
func BenchmarkSend(b *testing.B) {
	broker := danubetest.Start(b, danubetest.Options{MaxUnacked: 10000})
	c := newClient(b, client.Options{URL: broker.URL()})
	ctx := context.Background()
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: uniqueTopic(b), Dispatch: client.DispatchNonReliable})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 1024)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	cpu := processCPU()
	defer func() { reportCPU(b, cpu) }()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Send(ctx, client.OutgoingMessage{Payload: payload}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkReceiveAck measures receiving and acknowledging 1 KiB messages
// of a reliable topic (the broker's window set to 1000).
func BenchmarkReceiveAck(b *testing.B) {
	broker := danubetest.Start(b, danubetest.Options{MaxUnacked: 1000})
	c := newClient(b, client.Options{URL: broker.URL()})
	ctx := context.Background()
	topic := uniqueTopic(b)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Dispatch: client.DispatchReliable})
	if err != nil {
		b.Fatal(err)
	}
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 1024)
	go func() {
		for i := 0; i < b.N; i++ {
			if _, err := p.Send(ctx, client.OutgoingMessage{Payload: payload}); err != nil {
				return
			}
		}
	}()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	defer func() { reportCPU(b, cpu) }()
	acks := make(chan *client.Message, 256)
	done := make(chan struct{})
	for range 16 {
		go func() {
			for m := range acks {
				_ = cons.Ack(ctx, m)
			}
			done <- struct{}{}
		}()
	}
	for i := 0; i < b.N; i++ {
		m, err := cons.Receive(ctx)
		if err != nil {
			b.Fatal(err)
		}
		acks <- m
	}
	close(acks)
	for range 16 {
		<-done
	}
}
