package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
	"github.com/danube-connect/danube-connect/plugins/diskbuffer/diskqueue"
)

// diskBufferLakeConfig is danube (exclusive) → [disk buffer] → delta_lake
// with flush_period 1s; buffer "" leaves the buffer out.
func diskBufferLakeConfig(url, topic, table, bufferDir string) string {
	buffer := ""
	if bufferDir != "" {
		buffer = fmt.Sprintf(`
buffer:
  disk:
    path: %s
    max_bytes: 256MiB
`, bufferDir)
	}
	return fmt.Sprintf(`
http: { enabled: false }
logger: { level: info }
input:
  danube:
    url: %s
    topics: [ %q ]
    subscription: lake
    subscription_type: exclusive
    consumer_name: lake-writer-1
    backoff: { initial_interval: 10ms, max_interval: 200ms, max_retries: 1000 }
    health_check_interval: 200ms
%s
output:
  delta_lake:
    path: %s
    flush_period: 1s
    writer_id: disk-buffer-test
    batching:
      count: 2000
      period: 50ms
`, url, topic, buffer, table)
}

// produceInBackground sends ids [0, n) as JSON rows, one RPC at a time,
// and reports how many were sent.
func produceInBackground(t *testing.T, url, topic string, n int) (sent *atomic.Int64, done <-chan error) {
	t.Helper()
	sent = &atomic.Int64{}
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c, err := client.New(client.Options{URL: url})
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Dispatch: client.DispatchReliable})
		if err != nil {
			errc <- err
			return
		}
		for i := 0; i < n; i++ {
			if _, err := p.Send(ctx, client.OutgoingMessage{Payload: fmt.Appendf(nil, `{"id":%d,"body":"event %d"}`, i, i)}); err != nil {
				errc <- fmt.Errorf("sending %d: %w", i, err)
				return
			}
			sent.Add(1)
		}
		errc <- nil
	}()
	return sent, errc
}

func ackedCursor(b *danubetest.Broker, topic, sub string) uint64 {
	st, _ := b.Stats(topic)
	return st.Subscriptions[sub].AckedCursor
}

// TestDiskBufferKill9DanubeToDeltaExactlyOnce runs danube → disk → delta_lake
// as a real process on the double with the broker's real window of 10,
// kills it with SIGKILL while messages are produced and while the buffer
// holds messages the broker already considers delivered, restarts it, and
// checks with delta-rs and our reader that every produced message is in
// the table exactly once.
func TestDiskBufferKill9DanubeToDeltaExactlyOnce(t *testing.T) {
	n := 20000
	if danubeRaceEnabled {
		n = 8000
	}
	broker := danubetest.Start(t) // window 10, as danube-broker v0.15.1
	const topic, sub = "/default/disk-buffer-kill", "lake"
	require.NoError(t, broker.CreateTopic(topic, true))
	work := t.TempDir()
	table := filepath.Join(work, "table")
	bufferDir := filepath.Join(work, "buffer")
	cfg := diskBufferLakeConfig(broker.URL(), topic, table, bufferDir)

	first := startDeltaProcess(t, cfg)
	waitSubscribed(t, broker, topic, sub)
	sent, produced := produceInBackground(t, broker.URL(), topic, n)

	danubeWaitFor(t, 120*time.Second, "a third of the messages acknowledged to the broker", func() bool {
		return ackedCursor(broker, topic, sub) >= uint64(n/3)
	})
	require.NoError(t, first.cmd.Process.Kill())
	<-first.done
	atKill := ackedCursor(broker, topic, sub)
	_, _, inTable := deltaTableIDs(t, table)

	// What the crash left in the buffer: acknowledged to the broker, not
	// yet acknowledged by delta_lake. Only the buffer has these now.
	q, err := diskqueue.Open(diskqueue.Options{Dir: bufferDir, MaxBytes: 256 << 20})
	require.NoError(t, err, "the buffer opens after a kill -9")
	held := q.Stats()
	require.NoError(t, q.Close(context.Background()))
	t.Logf("killed with %d of %d produced, broker acked cursor %d, %d rows in the table, %d messages in the buffer",
		sent.Load(), n, atKill, len(inTable), held.Records)
	require.Less(t, atKill, uint64(n), "the kill must happen before the broker delivered everything")
	require.Positive(t, held.Records, "the kill must happen while the buffer holds messages only it has")

	second := startDeltaProcess(t, cfg)
	require.NoError(t, <-produced)
	var got []int64
	danubeWaitFor(t, 180*time.Second, "every message in the table after the restart", func() bool {
		_, _, got = deltaTableIDs(t, table)
		return len(got) >= n
	})
	danubeWaitFor(t, 30*time.Second, "the subscription fully acknowledged", func() bool {
		return ackedCursor(broker, topic, sub) == uint64(n)
	})
	time.Sleep(1500 * time.Millisecond) // a flush period for anything still in flight
	second.stop(t)
	assert.Contains(t, second.output(), "from a previous run")

	_, _, got = deltaTableIDs(t, table)
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i)
	}
	require.Equal(t, want, got, "every produced message exactly once")
	rows, _ := deltaRSNumRows(t, table)
	assert.Equal(t, fmt.Sprint(n), rows, "delta-rs reads the same number of rows")
}

// TestDiskBufferLiftsTheWindowCap measures how fast danube → delta_lake
// (flush_period 1s) consumes a backlog on the double with the real window
// of 10, with and without the disk buffer, in the same run.
func TestDiskBufferLiftsTheWindowCap(t *testing.T) {
	const backlog = 10000
	broker := danubetest.Start(t)
	rate := func(name, bufferDir string) float64 {
		topic := "/default/disk-buffer-rate-" + name
		require.NoError(t, broker.CreateTopic(topic, true))
		cfg := diskBufferLakeConfig(broker.URL(), topic, filepath.Join(t.TempDir(), "table"), bufferDir)
		// Subscribe (a new subscription starts at the newest message), stop,
		// produce the backlog, then consume it.
		p := startDeltaProcess(t, cfg)
		waitSubscribed(t, broker, topic, "lake")
		p.stop(t)
		produceDelta(t, broker.URL(), topic, 0, backlog)
		p = startDeltaProcess(t, cfg)
		// Count from the first acknowledgement, for at most 10 s or until
		// the backlog is consumed.
		danubeWaitFor(t, 60*time.Second, name+": first acknowledgement", func() bool { return ackedCursor(broker, topic, "lake") > 0 })
		start, from := time.Now(), ackedCursor(broker, topic, "lake")
		deadline := start.Add(10 * time.Second)
		for time.Now().Before(deadline) && ackedCursor(broker, topic, "lake") < backlog {
			time.Sleep(20 * time.Millisecond)
		}
		r := float64(ackedCursor(broker, topic, "lake")-from) / time.Since(start).Seconds()
		p.stop(t)
		t.Logf("%s: %.0f msg/s consumed", name, r)
		return r
	}
	without := rate("unbuffered", "")
	with := rate("buffered", filepath.Join(t.TempDir(), "buffer"))
	t.Logf("disk buffer: %.0f msg/s, without: %.0f msg/s, ratio %.1f", with, without, with/without)
	assert.Greater(t, with, 5*without, "the buffer releases the broker's window at disk speed, not at sink speed")
}

// TestDiskBufferSecondProcessFailsClearly starts two danube-connect
// processes on one buffer directory: the second must exit with an error
// naming the locked file instead of hanging or sharing it.
func TestDiskBufferSecondProcessFailsClearly(t *testing.T) {
	broker := danubetest.Start(t)
	const topic = "/default/disk-buffer-lock"
	require.NoError(t, broker.CreateTopic(topic, true))
	work := t.TempDir()
	bufferDir := filepath.Join(work, "buffer")
	first := startDeltaProcess(t, diskBufferLakeConfig(broker.URL(), topic, filepath.Join(work, "table"), bufferDir))
	waitSubscribed(t, broker, topic, "lake")

	second := startDeltaProcess(t, diskBufferLakeConfig(broker.URL(), topic, filepath.Join(work, "table2"), bufferDir))
	select {
	case <-second.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the second process did not give up on the locked buffer")
	}
	assert.False(t, second.cmd.ProcessState.Success(), "the second process must fail")
	assert.Contains(t, second.output(), "in use by another process")
	assert.Contains(t, second.output(), "directory "+bufferDir+" stayed locked")
	select {
	case <-first.done:
		t.Fatalf("the first process stopped:\n%s", first.output())
	default:
	}
}
