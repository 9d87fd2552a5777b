// Package objstoretest holds the conformance suite every objstore.Store
// implementation must pass, and helpers that connect tests to the shared
// test services (MinIO, Azurite, an in-process GCS emulator).
package objstoretest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// NewStoreFunc returns an empty store for one sub-test.
type NewStoreFunc func(t *testing.T) objstore.Store

// Conformance runs the shared table of behaviour tests against a store
// implementation. newStore must return an empty, isolated store per call.
func Conformance(t *testing.T, newStore NewStoreFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s objstore.Store)
	}{
		{"MissingKeys", testMissingKeys},
		{"PutGetOverwrite", testPutGetOverwrite},
		{"ListOrderPrefixStartAfter", testList},
		{"StatSize", testStat},
		{"CreateStreamsMultiMiB", testCreateStreaming},
		{"AbortLeavesNothing", testAbort},
		{"DeleteIdempotent", testDelete},
		{"PutIfAbsentExisting", testPutIfAbsentExisting},
		{"PutIfAbsentRace", testPutIfAbsentRace},
		{"VerifyPutIfAbsent", testVerifyPutIfAbsent},
		{"SpecialCharacterKeys", testSpecialKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func testMissingKeys(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	if _, err := s.Get(ctx, "_delta_log/missing.json"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Get of a missing key: got %v, want ErrNotExist", err)
	}
	if _, err := s.Stat(ctx, "missing/data.parquet"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Stat of a missing key: got %v, want ErrNotExist", err)
	}
	r, err := s.Open(ctx, "missing.bin")
	if err == nil {
		// Some SDKs open lazily; the error must then come from the first read.
		_, err = io.ReadAll(r)
		_ = r.Close()
	}
	if !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Open of a missing key: got %v, want ErrNotExist", err)
	}
	objs, err := s.List(ctx, "", "")
	if err != nil {
		t.Fatalf("List of an empty store: %v", err)
	}
	if len(objs) != 0 {
		t.Fatalf("List of an empty store returned %v", keysOf(objs))
	}
}

func testPutGetOverwrite(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	key := "date=2024-01-01/part-00000.parquet"
	mustPut(t, s, key, []byte("first"))
	mustGet(t, s, key, []byte("first"))
	mustPut(t, s, key, []byte("second, longer"))
	mustGet(t, s, key, []byte("second, longer"))

	mustPut(t, s, "empty", nil)
	mustGet(t, s, "empty", nil)

	r, err := s.Open(ctx, key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || string(got) != "second, longer" {
		t.Fatalf("Open+ReadAll: got %q, %v", got, err)
	}
}

func testList(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	keys := []string{
		"_delta_log/00000000000000000000.json",
		"_delta_log/00000000000000000001.json",
		"_delta_log/00000000000000000002.json",
		"_delta_log/00000000000000000010.checkpoint.parquet",
		"_delta_log/00000000000000000010.json",
		"_delta_log/_last_checkpoint",
		"a.b",
		"a/b",
		"date=2024-01-01/part-00000.parquet",
		"date=2024-01-01/sub/part-00001.parquet",
		"part-00002.parquet",
	}
	perm := rand.Perm(len(keys))
	for _, i := range perm {
		mustPut(t, s, keys[i], []byte(keys[i]))
	}
	cases := []struct {
		prefix, startAfter string
		want               []string
	}{
		{"", "", keys},
		{"_delta_log/", "", keys[:6]},
		{"_delta_log/", "_delta_log/00000000000000000001.json", keys[2:6]},
		{"_delta_log/", "_delta_log/00000000000000000001", keys[1:6]},
		{"_delta_log/0000", "", keys[:5]},
		{"_delta_log/0000", "_delta_log/00000000000000000010.checkpoint.parquet", keys[4:5]},
		{"_delta_log/", "_delta_log/_last_checkpoint", nil},
		{"a", "", keys[6:8]},
		{"a/", "", keys[7:8]},
		{"date=2024-01-01/", "", keys[8:10]},
		{"", "a.b", keys[7:]},
		{"nothing/", "", nil},
		{"nothing", "", nil},
	}
	for _, c := range cases {
		objs, err := s.List(ctx, c.prefix, c.startAfter)
		if err != nil {
			t.Fatalf("List(%q, %q): %v", c.prefix, c.startAfter, err)
		}
		got := keysOf(objs)
		if !equalStrings(got, c.want) {
			t.Fatalf("List(%q, %q):\n got %q\nwant %q", c.prefix, c.startAfter, got, c.want)
		}
		for _, o := range objs {
			if o.Size != int64(len(o.Key)) {
				t.Fatalf("List(%q, %q): %s has size %d, want %d", c.prefix, c.startAfter, o.Key, o.Size, len(o.Key))
			}
			if o.ModTime.IsZero() {
				t.Fatalf("List(%q, %q): %s has no modification time", c.prefix, c.startAfter, o.Key)
			}
		}
	}
}

func testStat(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	data := bytes.Repeat([]byte("x"), 12345)
	before := time.Now().Add(-10 * time.Minute)
	mustPut(t, s, "dir/object.bin", data)
	info, err := s.Stat(ctx, "dir/object.bin")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Key != "dir/object.bin" || info.Size != int64(len(data)) {
		t.Fatalf("Stat: got %+v, want key dir/object.bin size %d", info, len(data))
	}
	// Server clocks may differ a little from ours; a wildly wrong time means
	// the field was not filled in.
	if info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(10*time.Minute)) {
		t.Fatalf("Stat: modification time %v is not about now", info.ModTime)
	}
	if _, err := s.Stat(ctx, "dir"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Stat of a directory-like prefix: got %v, want ErrNotExist", err)
	}
}

// multiMiB is big enough to need several parts in a multipart upload.
const multiMiB = 12<<20 + 12345

func testCreateStreaming(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	key := "part-00000-big.parquet"
	data := make([]byte, multiMiB)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], rng.Uint64())
	}
	w, err := s.Create(ctx, key)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	// Odd chunk sizes exercise buffering across part boundaries.
	for off := 0; off < len(data); {
		n := min(len(data)-off, 1+rng.IntN(700<<10))
		if _, err := w.Write(data[off : off+n]); err != nil {
			_ = w.Abort()
			t.Fatalf("Write at %d: %v", off, err)
		}
		off += n
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, objstore.ErrNotExist) {
		_ = w.Abort()
		t.Fatalf("object visible before Close: Stat returned %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort after Close: %v", err)
	}
	info, err := s.Stat(ctx, key)
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("Stat after Close: %+v, %v; want size %d", info, err, len(data))
	}
	got, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("streamed content differs (got %d bytes, want %d)", len(got), len(data))
	}
	objs, err := s.List(ctx, "", "")
	if err != nil || !equalStrings(keysOf(objs), []string{key}) {
		t.Fatalf("List after Create: %q, %v", keysOf(objs), err)
	}
}

func testAbort(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	w, err := s.Create(ctx, "aborted/part.parquet")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("a"), 6<<20)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("second Abort: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Fatalf("Close after Abort succeeded; the aborted object must not be published")
	}
	if _, err := s.Stat(ctx, "aborted/part.parquet"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Stat after Abort: got %v, want ErrNotExist", err)
	}
	objs, err := s.List(ctx, "", "")
	if err != nil || len(objs) != 0 {
		t.Fatalf("List after Abort: %q, %v; want nothing", keysOf(objs), err)
	}
}

func testDelete(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	if err := s.Delete(ctx, "never/existed"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	mustPut(t, s, "x/y.json", []byte("{}"))
	mustPut(t, s, "x/z.json", []byte("{}"))
	if err := s.Delete(ctx, "x/y.json"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, "x/y.json"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Get after Delete: got %v, want ErrNotExist", err)
	}
	if err := s.Delete(ctx, "x/y.json"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	objs, err := s.List(ctx, "x/", "")
	if err != nil || !equalStrings(keysOf(objs), []string{"x/z.json"}) {
		t.Fatalf("List after Delete: %q, %v", keysOf(objs), err)
	}
}

func testPutIfAbsentExisting(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	key := "_delta_log/00000000000000000000.json"
	mustPut(t, s, key, []byte("put"))
	if err := s.PutIfAbsent(ctx, key, []byte("other")); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("PutIfAbsent over a Put object: got %v, want ErrExists", err)
	}
	mustGet(t, s, key, []byte("put"))
	if err := s.PutIfAbsent(ctx, "_delta_log/00000000000000000001.json", []byte("new")); err != nil {
		t.Fatalf("PutIfAbsent of a free key: %v", err)
	}
	mustGet(t, s, "_delta_log/00000000000000000001.json", []byte("new"))
}

func testVerifyPutIfAbsent(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	if err := objstore.VerifyPutIfAbsent(ctx, s); err != nil {
		t.Fatalf("VerifyPutIfAbsent: %v", err)
	}
	objs, err := s.List(ctx, "", "")
	if err != nil || len(objs) != 0 {
		t.Fatalf("VerifyPutIfAbsent left %q behind (%v)", keysOf(objs), err)
	}
}

// testSpecialKeys uses keys as Hive-style partition directories produce
// them: Spark escapes some characters as %XX in directory names, others
// (spaces, non-ASCII, '+', '&', '=') stay literal.
func testSpecialKeys(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	keys := []string{
		"a+b=c&d/part-00002.parquet",
		"city=Zürich/part-00001.parquet",
		"ts=2024-01-01 12%3A00%3A00/part-00000.parquet",
	}
	for _, k := range keys {
		mustPut(t, s, k, []byte(k))
	}
	if err := s.PutIfAbsent(ctx, keys[2], []byte("again")); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("PutIfAbsent(%q) on an existing key: %v", keys[2], err)
	}
	for _, k := range keys {
		mustGet(t, s, k, []byte(k))
		if info, err := s.Stat(ctx, k); err != nil || info.Size != int64(len(k)) {
			t.Fatalf("Stat(%q): %+v, %v", k, info, err)
		}
	}
	objs, err := s.List(ctx, "", "")
	if err != nil || !equalStrings(keysOf(objs), keys) {
		t.Fatalf("List: %q, %v; want %q", keysOf(objs), err, keys)
	}
	objs, err = s.List(ctx, "ts=2024-01-01 12%3A", "")
	if err != nil || !equalStrings(keysOf(objs), keys[2:]) {
		t.Fatalf("List with an escaped prefix: %q, %v", keysOf(objs), err)
	}
	for _, k := range keys {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
	}
	if objs, err := s.List(ctx, "", ""); err != nil || len(objs) != 0 {
		t.Fatalf("List after deleting: %q, %v", keysOf(objs), err)
	}
}

// PutIfAbsentRacers is how many goroutines race for one key.
const PutIfAbsentRacers = 20

func testPutIfAbsentRace(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	key := "_delta_log/00000000000000000007.json"
	round := func(round int) (winners []int) {
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, PutIfAbsentRacers)
		)
		for i := range PutIfAbsentRacers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = s.PutIfAbsent(ctx, key, racerContent(round, i))
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			switch {
			case err == nil:
				winners = append(winners, i)
			case errors.Is(err, objstore.ErrExists):
			default:
				t.Fatalf("round %d racer %d: unexpected error %v", round, i, err)
			}
		}
		return winners
	}
	winners := round(1)
	if len(winners) != 1 {
		t.Fatalf("first round: %d winners %v, want exactly 1", len(winners), winners)
	}
	want := racerContent(1, winners[0])
	mustGet(t, s, key, want)
	if w := round(2); len(w) != 0 {
		t.Fatalf("second round on an existing key: winners %v, want none", w)
	}
	mustGet(t, s, key, want)
}

// racerContent is distinct per racer and large enough that a torn or mixed
// write would show.
func racerContent(round, i int) []byte {
	line := fmt.Sprintf(`{"commitInfo":{"round":%d,"writer":%d}}`+"\n", round, i)
	return bytes.Repeat([]byte(line), 2000)
}

func mustPut(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(ctxFor(t), key, data); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

func mustGet(t *testing.T, s objstore.Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get(ctxFor(t), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get %s: got %d bytes %.60q, want %d bytes %.60q", key, len(got), got, len(want), want)
	}
}

func keysOf(objs []objstore.ObjectInfo) []string {
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
