package exactlyonce

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const topicA = "/default/orders-part-0"
const topicB = "/default/orders-part-1"

func offsetsOf(topic string, offs ...uint64) Offsets {
	o := Offsets{}
	for _, x := range offs {
		o.Add(topic, x)
	}
	return o
}

func TestAppID(t *testing.T) {
	assert.Equal(t, "danube-connect/w1/default/orders-part-0", AppID("w1", topicA))
	assert.Equal(t, "danube-connect/w1/plain", AppID("w1", "plain"))
}

func TestOffsetsCommitInfoRoundTrip(t *testing.T) {
	o := offsetsOf(topicA, 0, 1, 2, 3, 7)
	o.Add(topicB, 42)
	ci := map[string]any{"operation": "STREAMING UPDATE", CommitInfoKey: o}
	data, err := json.Marshal(ci)
	require.NoError(t, err)
	assert.JSONEq(t, `{"operation":"STREAMING UPDATE","danubeOffsets":{"/default/orders-part-0":[[0,3],[7,7]],"/default/orders-part-1":[[42,42]]}}`, string(data))

	// As a reader decodes it: generic JSON values.
	var decoded map[string]any
	require.NoError(t, json.Unmarshal(data, &decoded))
	back, err := OffsetsFromCommitInfo(decoded)
	require.NoError(t, err)
	assert.Equal(t, []string{topicA, topicB}, back.Topics())
	assert.Equal(t, o[topicA].Ranges(), back[topicA].Ranges())
	assert.Equal(t, uint64(6), back.Count())

	// As raw JSON and as the typed value.
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &raw))
	back, err = OffsetsFromCommitInfo(map[string]any{CommitInfoKey: raw[CommitInfoKey]})
	require.NoError(t, err)
	assert.Equal(t, uint64(6), back.Count())
	back, err = OffsetsFromCommitInfo(ci)
	require.NoError(t, err)
	assert.Equal(t, uint64(6), back.Count())

	// Commits without offsets (other engines, non-Danube inputs).
	back, err = OffsetsFromCommitInfo(map[string]any{"operation": "WRITE"})
	require.NoError(t, err)
	assert.Empty(t, back)
	back, err = ParseOffsets(json.RawMessage(`null`))
	require.NoError(t, err)
	assert.Empty(t, back)

	for _, bad := range []string{`[1]`, `{"":[[1,2]]}`, `{"t":[[2,1]]}`, `{"t":"x"}`} {
		_, err := ParseOffsets(json.RawMessage(bad))
		assert.Error(t, err, bad)
	}
}

func TestOffsetsSetOps(t *testing.T) {
	a := offsetsOf(topicA, 1, 2, 3)
	a.Add(topicB, 10)
	b := offsetsOf(topicA, 3, 4)
	b.Add(topicB, 11)
	assert.True(t, a.Overlaps(b))
	in := a.Intersect(b)
	assert.Equal(t, []string{topicA}, in.Topics())
	assert.Equal(t, "[3]", in[topicA].String())

	c := a.Clone()
	c.Subtract(offsetsOf(topicB, 10))
	assert.Equal(t, []string{topicA}, c.Topics(), "emptied topic dropped")
	assert.Equal(t, []string{topicA, topicB}, a.Topics(), "clone is independent")

	c.Union(b)
	assert.Equal(t, "[1-4]", c[topicA].String())
	assert.False(t, offsetsOf(topicA, 1).Overlaps(offsetsOf(topicB, 1)))
}

func TestTxnVersions(t *testing.T) {
	o := offsetsOf(topicA, 5, 6, 9)
	o.Add(topicB, 3)
	prev := map[string]int64{AppID("w", topicB): 100}
	got := o.TxnVersions("w", func(app string) (int64, bool) { v, ok := prev[app]; return v, ok })
	assert.Equal(t, map[string]int64{
		AppID("w", topicA): 9,
		AppID("w", topicB): 101, // a redelivered older offset still raises the version
	}, got)
}

// TestLedgerNackRedeliveryAfterNewerCommit is the case a high-water mark gets
// wrong: offset 5 fails, 6..10 commit, then 5 is redelivered and must be written.
func TestLedgerNackRedeliveryAfterNewerCommit(t *testing.T) {
	l := NewLedger()
	batch := Offsets{}
	for off := uint64(5); off <= 10; off++ {
		require.Equal(t, StatusNew, l.Reserve(topicA, off))
		batch.Add(topicA, off)
	}
	// Row 5 was malformed: its message is failed and its reservation released.
	failed := offsetsOf(topicA, 5)
	l.Release(failed)
	batch.Subtract(failed)
	l.Commit(batch)

	assert.Equal(t, StatusNew, l.Reserve(topicA, 5), "failed row must be written on redelivery")
	for off := uint64(6); off <= 10; off++ {
		assert.Equal(t, StatusCommitted, l.Reserve(topicA, off), "offset %d", off)
	}
	assert.Equal(t, StatusPending, l.Status(topicA, 5))
	l.Commit(offsetsOf(topicA, 5))
	assert.Equal(t, "[5-10]", l.Committed()[topicA].String())
	assert.Empty(t, l.Pending())
}

func TestLedgerPendingRace(t *testing.T) {
	l := NewLedger()
	require.Equal(t, StatusNew, l.Reserve(topicA, 1))
	assert.Equal(t, StatusPending, l.Reserve(topicA, 1), "second copy while the first is buffered")
	// The first flush fails: the offset is free again.
	l.Release(offsetsOf(topicA, 1))
	assert.Equal(t, StatusNew, l.Reserve(topicA, 1))
}

func TestLedgerObserveWinner(t *testing.T) {
	l := NewLedger()
	for _, off := range []uint64{1, 2, 3} {
		require.Equal(t, StatusNew, l.Reserve(topicA, off))
	}
	// Another writer (Shared subscription, redelivery) committed offset 2 at v7.
	dups := l.Observe(7, offsetsOf(topicA, 2, 50))
	assert.Equal(t, "[2]", dups[topicA].String())
	assert.Equal(t, int64(7), l.Version())
	l.Observe(3, Offsets{})
	assert.Equal(t, int64(7), l.Version(), "version never goes back")

	// The caller drops row 2 from its flush and commits the rest.
	ours := offsetsOf(topicA, 1, 2, 3)
	ours.Subtract(dups)
	l.Commit(ours)
	l.Release(dups) // no-op for offsets already committed
	assert.Equal(t, StatusCommitted, l.Status(topicA, 2))
	assert.Equal(t, StatusCommitted, l.Status(topicA, 50))
	assert.Equal(t, "[2 50]", l.CommittedOf(offsetsOf(topicA, 2, 4, 50))[topicA].String())
	assert.Equal(t, "[1-3 50]", l.Committed()[topicA].String())
	assert.Empty(t, l.Pending())
	assert.Equal(t, 2, l.Ranges())
	l.SetVersion(9)
	assert.Equal(t, int64(9), l.Version())
}

// TestLedgerConcurrent checks that concurrent reservations of the same
// offsets give each offset to exactly one caller.
func TestLedgerConcurrent(t *testing.T) {
	l := NewLedger()
	const workers, offsets = 8, 2000
	var mu sync.Mutex
	owners := map[uint64]int{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := Offsets{}
			for off := uint64(0); off < offsets; off++ {
				if l.Reserve(topicA, off) == StatusNew {
					mine.Add(topicA, off)
					mu.Lock()
					owners[off]++
					mu.Unlock()
				}
			}
			l.Commit(mine)
		}()
	}
	wg.Wait()
	require.Len(t, owners, offsets)
	for off, n := range owners {
		require.Equal(t, 1, n, "offset %d", off)
	}
	assert.Equal(t, "[0-1999]", l.Committed()[topicA].String())
}

// simTable is a Delta table reduced to what exactly-once needs: an ordered
// list of commits, each with its rows and recorded offsets.
type simTable struct {
	mu      sync.Mutex
	commits []Offsets
}

func (t *simTable) commit(rows Offsets) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.commits = append(t.commits, rows.Clone())
	return int64(len(t.commits) - 1)
}

func (t *simTable) since(v int64) []Offsets {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Offsets(nil), t.commits[v+1:]...)
}

// simWriter follows the output's protocol: refresh from the table, reserve,
// drop committed, commit, then (maybe) crash before acking.
type simWriter struct {
	table  *simTable
	ledger *Ledger
}

func newSimWriter(table *simTable, horizon int) *simWriter {
	w := &simWriter{table: table, ledger: NewLedger()}
	// Startup rebuild from the last `horizon` commits.
	all := table.since(-1)
	start := max(0, len(all)-horizon)
	for v := start; v < len(all); v++ {
		w.ledger.Observe(int64(v), all[v])
	}
	w.ledger.SetVersion(int64(len(all) - 1))
	return w
}

// write handles one delivered batch; it returns the offsets to ack (written
// or recognised) and those to nack.
func (w *simWriter) write(rng *rand.Rand, batch []uint64) (ack, nack []uint64) {
	// Refresh from commits of other writers first.
	base := w.ledger.Version()
	for i, c := range w.table.since(base) {
		w.ledger.Observe(base+int64(i)+1, c)
	}
	rows := Offsets{}
	for _, off := range batch {
		switch w.ledger.Reserve(topicA, off) {
		case StatusCommitted:
			ack = append(ack, off)
		case StatusPending:
			nack = append(nack, off)
		case StatusNew:
			if rng.IntN(10) == 0 { // a bad row: failed, released
				w.ledger.Release(offsetsOf(topicA, off))
				nack = append(nack, off)
				continue
			}
			rows.Add(topicA, off)
			ack = append(ack, off)
		}
	}
	if rows.Count() > 0 {
		// Conflict check against winners that landed meanwhile.
		base := w.ledger.Version()
		for i, c := range w.table.since(base) {
			dups := w.ledger.Observe(base+int64(i)+1, c)
			rows.Subtract(dups)
		}
		if rows.Count() > 0 {
			v := w.table.commit(rows)
			w.ledger.Observe(v, rows)
		}
	}
	return ack, nack
}

// TestExactlyOnceSimulation runs two writers sharing a subscription with
// random redelivery order, random bad rows, crashes after commit (before the
// ack) and restarts, and checks that every offset ends up in exactly one commit.
func TestExactlyOnceSimulation(t *testing.T) {
	for seed := uint64(0); seed < 40; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			const total = 300
			table := &simTable{}
			writers := []*simWriter{newSimWriter(table, 1000), newSimWriter(table, 1000)}
			unacked := make([]uint64, 0, total)
			for off := uint64(0); off < total; off++ {
				unacked = append(unacked, off)
			}
			for rounds := 0; len(unacked) > 0; rounds++ {
				require.Less(t, rounds, 10_000, "no progress")
				rng.Shuffle(len(unacked), func(i, j int) { unacked[i], unacked[j] = unacked[j], unacked[i] })
				n := min(len(unacked), 1+rng.IntN(20))
				batch := append([]uint64(nil), unacked[:n]...)
				// Occasionally the broker delivers a copy of an in-flight message too.
				if rng.IntN(5) == 0 {
					batch = append(batch, batch[0])
				}
				unacked = unacked[n:]
				wi := rng.IntN(len(writers))
				ack, nack := writers[wi].write(rng, batch)
				if rng.IntN(8) == 0 {
					// Crash after commit, before ack: everything is redelivered,
					// and the writer restarts with a fresh ledger.
					unacked = append(unacked, batch...)
					writers[wi] = newSimWriter(table, 1000)
					continue
				}
				_ = ack
				unacked = append(unacked, nack...)
			}
			seen := map[uint64]int{}
			for _, c := range table.commits {
				for _, r := range c[topicA].Ranges() {
					for off := r.First; off <= r.Last; off++ {
						seen[off]++
					}
				}
			}
			require.Len(t, seen, total, "every offset committed")
			for off, n := range seen {
				require.Equal(t, 1, n, "offset %d committed %d times", off, n)
			}
		})
	}
}
