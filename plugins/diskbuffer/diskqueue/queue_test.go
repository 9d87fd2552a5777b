package diskqueue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openQueue(t *testing.T, dir string, maxBytes int64, onCommit ...func(Commit)) *Queue {
	t.Helper()
	opts := Options{Dir: dir, MaxBytes: maxBytes}
	if len(onCommit) > 0 {
		opts.OnCommit = onCommit[0]
	}
	q, err := Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = q.Close(context.Background()) })
	return q
}

func rec(s string) Record { return Record{Payload: []byte(s)} }

// appendSync appends and waits until the entry is durable.
func appendSync(t *testing.T, q *Queue, recs ...Record) {
	t.Helper()
	done := make(chan error, 1)
	require.NoError(t, q.Append(context.Background(), recs, func(err error) { done <- err }))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("append not committed within 10s")
	}
}

func payloads(l *Lease) []string {
	var out []string
	for _, r := range l.Records {
		out = append(out, string(r.Payload))
	}
	return out
}

func readLease(t *testing.T, q *Queue, maxRecords int) *Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := q.Read(ctx, maxRecords, 1<<30)
	require.NoError(t, err)
	return l
}

func TestReadsInOrderAndAckDeletes(t *testing.T) {
	q := openQueue(t, t.TempDir(), 1<<20)
	var want []string
	for i := 0; i < 50; i++ {
		a, b := fmt.Sprintf("m%d-a", i), fmt.Sprintf("m%d-b", i)
		appendSync(t, q, rec(a), rec(b))
		want = append(want, a, b)
	}
	assert.Equal(t, Stats{Entries: 50, Records: 100, Bytes: q.Stats().Bytes}, q.Stats())

	var got []string
	for len(got) < len(want) {
		l := readLease(t, q, 7)
		// Entries are never split: 7 records allow three entries of two.
		assert.Len(t, l.Records, 6, "leases are filled up to the limit with whole entries")
		got = append(got, payloads(l)...)
		require.NoError(t, l.Ack(context.Background()))
		if len(want)-len(got) < 6 {
			break
		}
	}
	for len(got) < len(want) {
		l := readLease(t, q, 7)
		got = append(got, payloads(l)...)
		require.NoError(t, l.Ack(context.Background()))
	}
	assert.Equal(t, want, got)
	assert.Equal(t, Stats{}, q.Stats(), "acknowledged entries are deleted")
}

func TestOversizedEntryStillReadAlone(t *testing.T) {
	q := openQueue(t, t.TempDir(), 1<<20)
	appendSync(t, q, rec("a"), rec("b"), rec("c"))
	appendSync(t, q, rec("d"))
	l := readLease(t, q, 1)
	assert.Equal(t, []string{"a", "b", "c"}, payloads(l), "an entry above the read limit is read whole")
	require.NoError(t, l.Ack(context.Background()))
	assert.Equal(t, []string{"d"}, payloads(readLease(t, q, 1)))
}

func TestGroupCommitSharesOneTransaction(t *testing.T) {
	var commits, appended atomic.Int64
	q := openQueue(t, t.TempDir(), 64<<20, func(c Commit) {
		if c.Appended > 0 {
			commits.Add(1)
			appended.Add(int64(c.Appended))
		}
	})
	const writers, each = 8, 200
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var acks sync.WaitGroup
			for i := 0; i < each; i++ {
				acks.Add(1)
				err := q.Append(context.Background(), []Record{rec(fmt.Sprintf("w%d-%d", w, i))}, func(err error) {
					if err != nil {
						failed.Add(1)
					}
					acks.Done()
				})
				assert.NoError(t, err)
			}
			acks.Wait()
		}()
	}
	wg.Wait()
	assert.Zero(t, failed.Load())
	assert.EqualValues(t, writers*each, appended.Load())
	t.Logf("%d appends in %d commits", writers*each, commits.Load())
	assert.Less(t, commits.Load(), int64(writers*each/4), "appends waiting together share a commit")
}

func TestNackRedeliversFirstAndAfterDelay(t *testing.T) {
	q := openQueue(t, t.TempDir(), 1<<20)
	for i := 0; i < 6; i++ {
		appendSync(t, q, rec(fmt.Sprint(i)))
	}
	a := readLease(t, q, 2)
	b := readLease(t, q, 2)
	assert.Equal(t, []string{"0", "1"}, payloads(a))
	assert.Equal(t, []string{"2", "3"}, payloads(b))
	require.NoError(t, b.Nack(0))
	require.NoError(t, a.Nack(0))
	assert.ErrorIs(t, a.Nack(0), errSettled)

	// Due redeliveries come first, in sequence order, before unread entries.
	again := readLease(t, q, 4)
	assert.Equal(t, []string{"0", "1", "2", "3"}, payloads(again))

	// A delayed redelivery lets later entries pass, then comes back.
	require.NoError(t, again.Nack(200*time.Millisecond))
	start := time.Now()
	assert.Equal(t, []string{"4", "5"}, payloads(readLease(t, q, 10)))
	l := readLease(t, q, 10)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	assert.Equal(t, []string{"0", "1", "2", "3"}, payloads(l))
	require.NoError(t, l.Ack(context.Background()))
	assert.Equal(t, 2, q.Stats().Entries, "the lease of 4 and 5 is still out")
}

func TestReopenReadsEverythingNotAcknowledged(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(Options{Dir: dir, MaxBytes: 1 << 20})
	require.NoError(t, err)
	for i := 0; i < 10; i++ {
		appendSync(t, q, Record{Payload: []byte(fmt.Sprint(i)), Meta: []Meta{{Key: "danube_offset", Value: fmt.Sprint(i)}}})
	}
	acked := readLease(t, q, 3)
	leased := readLease(t, q, 2)
	acked2 := readLease(t, q, 1)
	require.NoError(t, acked.Ack(context.Background()))
	require.NoError(t, acked2.Ack(context.Background()))
	assert.Equal(t, []string{"3", "4"}, payloads(leased))
	require.NoError(t, q.Close(context.Background()))
	assert.ErrorIs(t, leased.Ack(context.Background()), ErrClosed, "an ack after close is refused; the entries stay")
	_, err = q.Read(context.Background(), 1, 1)
	assert.ErrorIs(t, err, ErrClosed)

	q2 := openQueue(t, dir, 1<<20)
	assert.Equal(t, 6, q2.Stats().Entries)
	l := readLease(t, q2, 100)
	assert.Equal(t, []string{"3", "4", "6", "7", "8", "9"}, payloads(l))
	assert.Equal(t, []Meta{{Key: "danube_offset", Value: "3"}}, l.Records[0].Meta)
	require.NoError(t, l.Ack(context.Background()))

	// Sequence numbers continue after a restart.
	appendSync(t, q2, rec("10"))
	assert.Equal(t, []string{"10"}, payloads(readLease(t, q2, 100)))
}

func TestSizeBoundBlocksUntilAck(t *testing.T) {
	q := openQueue(t, t.TempDir(), 100)
	payload := make([]byte, 40)
	appendSync(t, q, Record{Payload: payload})
	appendSync(t, q, Record{Payload: payload})

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := q.Append(ctx, []Record{{Payload: payload}}, func(error) {})
	require.ErrorIs(t, err, context.DeadlineExceeded, "a full queue makes Append wait")

	unblocked := make(chan error, 1)
	go func() {
		unblocked <- q.Append(context.Background(), []Record{{Payload: payload}}, func(error) {})
	}()
	select {
	case <-unblocked:
		t.Fatal("Append returned while the queue was full")
	case <-time.After(100 * time.Millisecond):
	}
	l := readLease(t, q, 1)
	require.NoError(t, l.Ack(context.Background()))
	select {
	case err := <-unblocked:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Append still blocked after an ack freed space")
	}

	err = q.Append(context.Background(), []Record{{Payload: make([]byte, 200)}}, func(error) {})
	assert.ErrorIs(t, err, ErrTooLarge)
}

func TestCloseWakesBlockedCallsAndKeepsAccepted(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(Options{Dir: dir, MaxBytes: 100})
	require.NoError(t, err)
	appendSync(t, q, Record{Payload: make([]byte, 80)})
	leased := readLease(t, q, 1)
	errs := make(chan error, 2)
	go func() { // full: waits for space
		errs <- q.Append(context.Background(), []Record{{Payload: make([]byte, 80)}}, func(error) {})
	}()
	go func() { // nothing unread: waits for an entry
		_, err := q.Read(context.Background(), 1, 1)
		errs <- err
	}()
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, q.Close(context.Background()))
	for i := 0; i < 2; i++ {
		select {
		case err := <-errs:
			assert.ErrorIs(t, err, ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not wake a blocked call")
		}
	}
	assert.ErrorIs(t, leased.Ack(context.Background()), ErrClosed)

	// An append accepted just before Close is committed by Close.
	q2, err := Open(Options{Dir: dir, MaxBytes: 1000})
	require.NoError(t, err)
	assert.Equal(t, 1, q2.Stats().Entries, "the unacknowledged lease survived")
	committed := make(chan error, 1)
	require.NoError(t, q2.Append(context.Background(), []Record{rec("late")}, func(err error) { committed <- err }))
	require.NoError(t, q2.Close(context.Background()))
	require.NoError(t, <-committed)
	q3 := openQueue(t, dir, 1000)
	assert.Equal(t, 2, q3.Stats().Entries)
}

func TestEndOfInputDrainsAfterLastAck(t *testing.T) {
	q := openQueue(t, t.TempDir(), 1<<20)
	appendSync(t, q, rec("a"))
	l := readLease(t, q, 10)
	q.EndOfInput()

	read := make(chan error, 1)
	var got *Lease
	go func() {
		var err error
		got, err = q.Read(context.Background(), 10, 1<<20)
		read <- err
	}()
	select {
	case err := <-read:
		t.Fatalf("Read returned %v while a lease was out", err)
	case <-time.After(100 * time.Millisecond):
	}
	// A nack during the drain is handed out again, not lost.
	require.NoError(t, l.Nack(0))
	require.NoError(t, <-read)
	assert.Equal(t, []string{"a"}, payloads(got))
	require.NoError(t, got.Ack(context.Background()))
	_, err := q.Read(context.Background(), 10, 1<<20)
	assert.ErrorIs(t, err, ErrDrained)
}

func TestSecondOpenFailsWithLockError(t *testing.T) {
	dir := t.TempDir()
	openQueue(t, dir, 1<<20)
	start := time.Now()
	_, err := Open(Options{Dir: dir, MaxBytes: 1 << 20, LockTimeout: 200 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), "directory "+dir+" stayed locked")
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestLockIsReleasedByClose(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(Options{Dir: dir, MaxBytes: 1 << 20})
	require.NoError(t, err)
	appendSync(t, q, rec("kept"))
	require.NoError(t, q.Close(context.Background()))
	q2 := openQueue(t, dir, 1<<20)
	assert.Equal(t, []string{"kept"}, payloads(readLease(t, q2, 10)))
}

// newestWAL is the path of the newest write-ahead log of shard 0.
func newestWAL(t *testing.T, dir string) string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, ShardFile(0), "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, logs)
	slices.Sort(logs) // zero-padded file numbers
	return logs[len(logs)-1]
}

func TestGarbageStoreFailsOpenCleanly(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, shard string){
		"garbage manifest": func(t *testing.T, shard string) {
			ms, err := filepath.Glob(filepath.Join(shard, "MANIFEST-*"))
			require.NoError(t, err)
			require.NotEmpty(t, ms)
			for _, m := range ms {
				require.NoError(t, os.WriteFile(m, []byte("this is not a pebble manifest, just some bytes that happen to be here......"), 0o600))
			}
		},
		"file instead of store": func(t *testing.T, shard string) {
			require.NoError(t, os.RemoveAll(shard))
			require.NoError(t, os.WriteFile(shard, make([]byte, 100), 0o600))
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			q, err := Open(Options{Dir: dir, MaxBytes: 1 << 20, Shards: 2})
			require.NoError(t, err)
			appendSync(t, q, rec("a"))
			require.NoError(t, q.Close(context.Background()))
			damage(t, filepath.Join(dir, ShardFile(1)))
			_, err = Open(Options{Dir: dir, MaxBytes: 1 << 20, LockTimeout: 200 * time.Millisecond})
			require.Error(t, err)
			assert.Contains(t, err.Error(), filepath.Join(dir, ShardFile(1)))
			// The failed open released the directory.
			q2, err := Open(Options{Dir: dir, MaxBytes: 1 << 20, Shards: 1, LockTimeout: 200 * time.Millisecond})
			if err == nil {
				_ = q2.Close(context.Background())
			}
			assert.NotErrorIs(t, err, ErrLocked)
		})
	}
}

// TestTornLastCommitFallsBackToThePreviousOne cuts the newest commit short
// in the write-ahead log, as a torn write during a power loss would: its
// record checksum fails, recovery drops the torn tail and the queue opens as
// of the commit before.
func TestTornLastCommitFallsBackToThePreviousOne(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(Options{Dir: dir, MaxBytes: 1 << 20, Shards: 1})
	require.NoError(t, err)
	appendSync(t, q, rec("first"))
	appendSync(t, q, rec("second"))
	require.NoError(t, q.Close(context.Background()))

	wal := newestWAL(t, dir)
	b, err := os.ReadFile(wal)
	require.NoError(t, err)
	i := bytes.LastIndex(b, []byte("second"))
	require.Positive(t, i, "the newest commit is in the newest WAL")
	require.NoError(t, os.Truncate(wal, int64(i+3))) // the write stopped mid-record

	q2, err := Open(Options{Dir: dir, MaxBytes: 1 << 20, Shards: 1})
	require.NoError(t, err)
	defer q2.Close(context.Background())
	l := readLease(t, q2, 10)
	assert.Equal(t, []string{"first"}, payloads(l), "the torn newest commit is dropped, the previous one is intact")
}

// TestDamagedLastCommitFallsBackToThePreviousOne flips bytes inside the
// newest commit's WAL record: its checksum rejects it.
func TestDamagedLastCommitFallsBackToThePreviousOne(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(Options{Dir: dir, MaxBytes: 1 << 20, Shards: 1})
	require.NoError(t, err)
	appendSync(t, q, rec("first"))
	appendSync(t, q, rec("second-with-a-longer-payload"))
	require.NoError(t, q.Close(context.Background()))

	wal := newestWAL(t, dir)
	b, err := os.ReadFile(wal)
	require.NoError(t, err)
	i := bytes.LastIndex(b, []byte("second-with-a-longer-payload"))
	require.Positive(t, i, "the newest commit is in the newest WAL")
	copy(b[i:], "SECOND")
	require.NoError(t, os.WriteFile(wal, b, 0o600))

	q2, err := Open(Options{Dir: dir, MaxBytes: 1 << 20, Shards: 1})
	require.NoError(t, err)
	defer q2.Close(context.Background())
	l := readLease(t, q2, 10)
	assert.Equal(t, []string{"first"}, payloads(l), "the damaged newest commit is dropped, the previous one is intact")
}

func TestMetadataRoundTrip(t *testing.T) {
	when := time.Date(2026, 12, 5, 1, 2, 3, 456789, time.UTC)
	in := []Record{{
		Payload: []byte(`{"id":1}`),
		Meta: []Meta{
			{Key: "danube_topic", Value: "/default/t-part-0"},
			{Key: "danube_offset", Value: "42"},
			{Key: "empty", Value: ""},
			{Key: "raw", Value: []byte{0, 1, 2}},
			{Key: "yes", Value: true},
			{Key: "neg", Value: int64(-7)},
			{Key: "int", Value: 12},
			{Key: "big", Value: uint64(1 << 63)},
			{Key: "pi", Value: 3.25},
			{Key: "nil", Value: nil},
			{Key: "when", Value: when},
			{Key: "obj", Value: map[string]any{"a": []any{"x", 1.5}}},
			{Key: "ünïcode ключ", Value: "значение"},
		},
	}, {Payload: nil}, {Payload: []byte{}}}
	enc, err := encodeEntry(nil, in)
	require.NoError(t, err)
	out, err := decodeEntry(nil, enc)
	require.NoError(t, err)
	require.Len(t, out, 3)
	want := in[0]
	want.Meta[6].Value = int64(12)
	assert.Equal(t, want, out[0])
	assert.Empty(t, out[1].Payload)
	n, err := entryRecordCount(enc)
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	_, err = encodeEntry(nil, []Record{{Meta: []Meta{{Key: "f", Value: func() {}}}}})
	assert.ErrorContains(t, err, `metadata "f"`)

	// Every truncation of a valid entry is an error, never a panic or a
	// silently shorter batch.
	for i := 0; i < len(enc); i++ {
		_, err := decodeEntry(nil, enc[:i])
		assert.Error(t, err, "truncated at %d", i)
	}
	_, err = decodeEntry(nil, append(enc, 0))
	assert.Error(t, err)
}

func TestConcurrentWritersReaderAndAcks(t *testing.T) {
	q := openQueue(t, t.TempDir(), 4096)
	const writers, each = 4, 300
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				assert.NoError(t, q.Append(context.Background(), []Record{rec(fmt.Sprintf("%d/%d", w, i))}, func(err error) { assert.NoError(t, err) }))
			}
		}()
	}
	go func() { wg.Wait(); q.EndOfInput() }()

	seen := map[string]int{}
	var nacked bool
	var acks sync.WaitGroup
	for {
		l, err := q.Read(context.Background(), 16, 1<<20)
		if errors.Is(err, ErrDrained) {
			break
		}
		require.NoError(t, err)
		if !nacked && len(seen) > 100 {
			nacked = true
			require.NoError(t, l.Nack(time.Millisecond))
			continue
		}
		for _, r := range l.Records {
			seen[string(r.Payload)]++
		}
		acks.Add(1)
		go func() { defer acks.Done(); assert.NoError(t, l.Ack(context.Background())) }()
	}
	acks.Wait()
	assert.Len(t, seen, writers*each)
	for k, n := range seen {
		assert.Equal(t, 1, n, k)
	}
	assert.Equal(t, Stats{}, q.Stats())
}

// BenchmarkAppendWindow10 appends 1 KiB records with at most 10 waiting for
// their commit, as the danube input does with the broker's window of 10,
// while a reader acknowledges everything it reads.
func BenchmarkAppendWindow10(b *testing.B) {
	for _, shards := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) { benchWindow10(b, shards) })
	}
}

func benchWindow10(b *testing.B, shards int) {
	var syncs atomic.Int64
	var syncNanos atomic.Int64
	q, err := Open(Options{Dir: b.TempDir(), MaxBytes: 1 << 30, Shards: shards, OnCommit: func(c Commit) {
		syncs.Add(1)
		syncNanos.Add(int64(c.Duration))
	}})
	require.NoError(b, err)
	defer q.Close(context.Background())
	window := make(chan struct{}, 10)
	payload := make([]byte, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // the output side: read and acknowledge everything
		for {
			l, err := q.Read(ctx, 1000, 1<<20)
			if err != nil {
				return
			}
			go func() { _ = l.Ack(ctx) }()
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		window <- struct{}{}
		require.NoError(b, q.Append(context.Background(), []Record{{Payload: payload}}, func(error) { <-window }))
	}
	for i := 0; i < cap(window); i++ {
		window <- struct{}{}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	if n := syncs.Load(); n > 0 {
		b.ReportMetric(float64(syncNanos.Load())/float64(n)/1e3, "µs/commit")
	}
}

// TestOrderAcrossShardsWhileCommitting reads while a writer appends without
// waiting, so commits run on both shards at once and finish in any order:
// the reader still sees every entry once, in append order.
func TestOrderAcrossShardsWhileCommitting(t *testing.T) {
	var commitsPerShardUsed atomic.Int64
	q := openQueue(t, t.TempDir(), 64<<20, func(c Commit) {
		if c.Appended > 0 {
			commitsPerShardUsed.Add(1)
		}
	})
	const n = 3000
	go func() {
		for i := 0; i < n; i++ {
			assert.NoError(t, q.Append(context.Background(), []Record{rec(fmt.Sprint(i))}, func(err error) { assert.NoError(t, err) }))
			if i%50 == 0 {
				time.Sleep(time.Millisecond) // let commits start with few entries
			}
		}
		q.EndOfInput()
	}()
	next := 0
	for {
		l, err := q.Read(context.Background(), 7, 1<<20)
		if errors.Is(err, ErrDrained) {
			break
		}
		require.NoError(t, err)
		for _, r := range l.Records {
			require.Equal(t, fmt.Sprint(next), string(r.Payload), "entries come out in append order")
			next++
		}
		require.NoError(t, l.Ack(context.Background()))
	}
	assert.Equal(t, n, next)
	t.Logf("%d commits with appends", commitsPerShardUsed.Load())
}

// TestReopenWithFewerShardsReadsEveryFile stores entries in two shards and
// reopens with one: the second file is still opened and read.
func TestReopenWithFewerShardsReadsEveryFile(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(Options{Dir: dir, MaxBytes: 1 << 20, Shards: 3})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 300; i++ {
		wg.Add(1)
		require.NoError(t, q.Append(context.Background(), []Record{rec(fmt.Sprint(i))}, func(err error) { assert.NoError(t, err); wg.Done() }))
	}
	wg.Wait()
	require.NoError(t, q.Close(context.Background()))

	q2, err := Open(Options{Dir: dir, MaxBytes: 1 << 20, Shards: 1})
	require.NoError(t, err)
	defer q2.Close(context.Background())
	assert.Len(t, q2.shards, 3)
	l := readLease(t, q2, 1000)
	require.Len(t, l.Records, 300)
	for i, r := range l.Records {
		assert.Equal(t, fmt.Sprint(i), string(r.Payload))
	}
}
