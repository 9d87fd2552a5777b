package deltalake

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// BenchmarkWriteBatchParallel measures the output alone (no Benthos
// pipeline): 32 concurrent WriteBatch calls of 1000 ~300-byte events into
// one local table with a 1s flush period. Set DC_BENCH_EVENTS to a
// JSON-lines file (e.g. the cache of integration/bench/delta) to use real
// events; otherwise a generated event is repeated.
func BenchmarkWriteBatchParallel(b *testing.B) {
	var lines [][]byte
	if path := os.Getenv("DC_BENCH_EVENTS"); path != "" {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() && len(lines) < 200_000 {
			lines = append(lines, append([]byte(nil), sc.Bytes()...))
		}
		f.Close()
	} else {
		for i := 0; i < 10_000; i++ {
			lines = append(lines, []byte(fmt.Sprintf(`{"id":%d,"timestamp":"2026-01-01T00:00:00.%06dZ","user":{"id":%d,"name":"user-%05d","country":"FR","premium":false},"request":{"method":"GET","path":"/api/v1/orders","status":200,"latency_ms":12.5,"bytes":1234,"user_agent":"curl/8.5.0"},"tags":["beta"],"session":"0123456789abcdef0123456789abcdef"}`, i, i, i, i)))
		}
	}
	var size int64
	for _, l := range lines {
		size += int64(len(l))
	}
	out := newTestOutputB(b, fmt.Sprintf("path: %s\nflush_period: 1s\nmax_in_flight: 32\n", b.TempDir()))
	const per = 1000
	b.SetBytes(size)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for start := 0; start < len(lines); start += per {
			batch := make(service.MessageBatch, 0, per)
			for _, l := range lines[start:min(start+per, len(lines))] {
				batch = append(batch, service.NewMessage(l))
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := out.WriteBatch(context.Background(), batch); err != nil {
					if be, ok := err.(*service.BatchError); ok {
						be.WalkMessages(func(i int, m *service.Message, e error) bool {
							if e != nil {
								b.Errorf("message %d: %v", i, e)
								return false
							}
							return true
						})
					}
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(len(lines)*b.N)/b.Elapsed().Seconds(), "rows/s")
	_ = out.Close(context.Background())
}

func newTestOutputB(b *testing.B, yaml string) *deltaLakeOutput {
	pConf, err := dlSpec().ParseYAML(yaml, nil)
	if err != nil {
		b.Fatal(err)
	}
	conf, err := dlConfigFromParsed(pConf)
	if err != nil {
		b.Fatal(err)
	}
	out, err := newDeltaLakeOutput(conf, service.MockResources())
	if err != nil {
		b.Fatal(err)
	}
	return out
}
