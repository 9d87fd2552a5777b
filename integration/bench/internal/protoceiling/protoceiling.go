// Package protoceiling measures what the Danube wire protocol itself costs on
// this machine, with nothing of ours or of Benthos in the way. A bare grpc-go
// server process answers SendMessage and Ack at once and streams every sent
// message straight back on ReceiveMessages; a bare grpc-go client (in the
// bench process) sends messages of a given size with many calls in flight and acks
// every message it receives. Per message that is exactly the protocol's
// minimum: one SendMessage call, one streamed delivery, one Ack call; so
// its rate bounds what any grpc-go client against a grpc-go broker can reach
// here, and it is the yardstick for the benchmarks' figures.
//
// The bare server runs as a subprocess of the benchmark binary: call
// ServeIfAsked first thing in main.
package protoceiling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// bareServer is the least a broker can do per message.
type bareServer struct {
	danubepb.UnimplementedProducerServiceServer
	danubepb.UnimplementedConsumerServiceServer
	deliver    bool
	deliveries chan *danubepb.StreamMessage
}

func (s *bareServer) SendMessage(ctx context.Context, m *danubepb.StreamMessage) (*danubepb.MessageResponse, error) {
	if s.deliver {
		select {
		case s.deliveries <- m:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &danubepb.MessageResponse{RequestId: m.RequestId}, nil
}

func (s *bareServer) ReceiveMessages(_ *danubepb.ReceiveRequest, stream grpc.ServerStreamingServer[danubepb.StreamMessage]) error {
	for {
		select {
		case m := <-s.deliveries:
			if err := stream.Send(m); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (s *bareServer) Ack(_ context.Context, r *danubepb.AckRequest) (*danubepb.AckResponse, error) {
	return &danubepb.AckResponse{RequestId: r.RequestId}, nil
}

const (
	serveArg   = "-danube-bare-server="
	deliverArg = "-danube-bare-deliver"
)

// ServeIfAsked turns this process into the bare server when it was started
// as one by Measure, and then exits; otherwise it returns at once. Call it
// before flag.Parse, which would refuse the server's arguments.
func ServeIfAsked() {
	var addr string
	deliver := false
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, serveArg); ok {
			addr = v
		}
		if a == deliverArg {
			deliver = true
		}
	}
	if addr == "" {
		return
	}
	if err := serve(addr, deliver); err != nil {
		fmt.Fprintln(os.Stderr, "bare Danube server:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serve runs the bare server until stdin closes.
func serve(addr string, deliver bool) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// The same server options as danubetest.
	srv := grpc.NewServer(grpc.NumStreamWorkers(uint32(16 * runtime.GOMAXPROCS(0))))
	s := &bareServer{deliver: deliver, deliveries: make(chan *danubepb.StreamMessage, 4096)}
	danubepb.RegisterProducerServiceServer(srv, s)
	danubepb.RegisterConsumerServiceServer(srv, s)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		srv.Stop()
	}()
	return srv.Serve(lis)
}

// Result is one measured ceiling.
type Result struct {
	Rate            float64 // messages/s
	ClientCPUPerMsg float64 // µs
	ServerCPUPerMsg float64 // µs
	ServerPeakRSS   int64   // bytes
}

// Measure runs n messages of payloadBytes through the bare client with
// inFlight calls in flight against a bare server subprocess. With consume
// false only SendMessage is called.
func Measure(n, inFlight, payloadBytes int, consume bool) (res Result, err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	addr := lis.Addr().String()
	lis.Close()
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	args := []string{serveArg + addr}
	if consume {
		args = append(args, deliverArg)
	}
	srv := exec.Command(self, args...)
	srv.Stderr = os.Stderr
	stdin, err := srv.StdinPipe()
	if err != nil {
		return res, err
	}
	if err := srv.Start(); err != nil {
		return res, err
	}
	var clientCPU, serverCPU time.Duration
	defer func() {
		stdin.Close()
		_ = srv.Wait()
		if ru, ok := srv.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.ServerPeakRSS = ru.Maxrss * 1024
		}
		// The server did nothing but this scenario (its start-up is a
		// few ms): all its CPU counts.
		serverCPU = srv.ProcessState.UserTime() + srv.ProcessState.SystemTime()
		if n > 0 {
			res.ClientCPUPerMsg = float64(clientCPU.Microseconds()) / float64(n)
			res.ServerCPUPerMsg = float64(serverCPU.Microseconds()) / float64(n)
		}
	}()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithSharedWriteBuffer(true))
	if err != nil {
		return res, err
	}
	defer cc.Close()
	producer := danubepb.NewProducerServiceClient(cc)
	consumer := danubepb.NewConsumerServiceClient(cc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := consumer.Ack(ctx, &danubepb.AckRequest{}); err == nil {
			break
		} else if time.Now().After(deadline) {
			return res, fmt.Errorf("bare server did not come up: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	failed := make(chan error, 1)
	fail := func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	var acked atomic.Int64
	allAcked := make(chan struct{})
	if consume {
		stream, err := consumer.ReceiveMessages(ctx, &danubepb.ReceiveRequest{})
		if err != nil {
			return res, err
		}
		acks := make(chan *danubepb.StreamMessage, inFlight)
		for range inFlight {
			go func() {
				for m := range acks {
					if _, err := consumer.Ack(ctx, &danubepb.AckRequest{RequestId: m.RequestId, MsgId: m.MsgId, SubscriptionName: "bare"}); err != nil {
						fail(err)
						return
					}
					if acked.Add(1) == int64(n) {
						close(allAcked)
					}
				}
			}()
		}
		go func() {
			defer close(acks)
			for {
				m, err := stream.Recv()
				if err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					return
				}
				acks <- m
			}
		}()
	} else {
		close(allAcked)
	}

	payload := []byte(strings.Repeat("x", payloadBytes))
	start, startCPU := time.Now(), SelfCPU()
	var next atomic.Int64
	var senders sync.WaitGroup
	for range inFlight {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for {
				id := next.Add(1)
				if id > int64(n) {
					return
				}
				m := &danubepb.StreamMessage{
					RequestId:    uint64(id),
					MsgId:        &danubepb.MsgID{ProducerId: 1, TopicName: "/default/ceiling", TopicOffset: uint64(id)},
					Payload:      payload,
					PublishTime:  uint64(time.Now().UnixMilli()),
					ProducerName: "ceiling",
				}
				if _, err := producer.SendMessage(ctx, m); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	senders.Wait()
	select {
	case <-allAcked:
	case err := <-failed:
		return res, err
	case <-time.After(time.Minute):
		return res, fmt.Errorf("only %d of %d messages acked", acked.Load(), n)
	}
	select {
	case err := <-failed:
		if !errors.Is(err, context.Canceled) {
			return res, err
		}
	default:
	}
	res.Rate = float64(n) / time.Since(start).Seconds()
	clientCPU = SelfCPU() - startCPU
	return res, nil
}

// SelfCPU is this process's user+system CPU time so far.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
