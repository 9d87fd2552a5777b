package objstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore/objstoretest"
)

func newLocal(t *testing.T) *objstore.Local {
	t.Helper()
	s, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLocalConformance(t *testing.T) {
	objstoretest.Conformance(t, func(t *testing.T) objstore.Store { return newLocal(t) })
}

func TestSubConformance(t *testing.T) {
	objstoretest.Conformance(t, func(t *testing.T) objstore.Store {
		base := newLocal(t)
		// A sibling table must stay invisible through the sub-store.
		if err := base.Put(context.Background(), "tables/other/x.json", []byte("x")); err != nil {
			t.Fatal(err)
		}
		return objstore.Sub(objstore.Sub(base, "tables"), "/events/")
	})
}

func TestSubKeysAndURL(t *testing.T) {
	ctx := context.Background()
	base := newLocal(t)
	sub := objstore.Sub(base, "a/b")
	if err := sub.Put(ctx, "_delta_log/0.json", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := base.Stat(ctx, "a/b/_delta_log/0.json"); err != nil {
		t.Fatalf("sub-store key not under its prefix: %v", err)
	}
	if got, want := sub.URL(), base.URL()+"/a/b"; got != want {
		t.Fatalf("URL: got %q want %q", got, want)
	}
	if info, err := sub.Stat(ctx, "_delta_log/0.json"); err != nil || info.Key != "_delta_log/0.json" {
		t.Fatalf("Stat through sub-store: %+v, %v", info, err)
	}
	if _, err := sub.Get(ctx, "../b/_delta_log/0.json"); err == nil {
		t.Fatalf("a key escaping the sub-store root was accepted")
	}
}

func TestLocalRejectsEscapingKeys(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	for _, key := range []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a/", "."} {
		if err := s.Put(ctx, key, []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded, want an invalid-key error", key)
		}
		if _, err := s.Get(ctx, key); err == nil || errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("Get(%q): got %v, want an invalid-key error", key, err)
		}
	}
}

// Temp files of this store and of Spark (".<name>.<uuid>.tmp") are staging
// files: List must not show them, and losers of a PutIfAbsent race must not
// leave theirs behind.
func TestLocalTempFilesHiddenAndCleaned(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	logDir := filepath.Join(s.Root(), "_delta_log")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	spark := filepath.Join(logDir, ".00000000000000000005.json.0f4c.tmp")
	if err := os.WriteFile(spark, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := s.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", []byte("{}"))
			if err != nil && !errors.Is(err, objstore.ErrExists) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	w, err := s.Create(ctx, "_delta_log/00000000000000000001.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("pending")); err != nil {
		t.Fatal(err)
	}
	objs, err := s.List(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Key != "_delta_log/00000000000000000000.json" {
		t.Fatalf("List shows staging files or misses the commit: %+v", objs)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(logDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, ","); got != ".00000000000000000005.json.0f4c.tmp,00000000000000000000.json" {
		t.Fatalf("directory after the race and an abort: %s", got)
	}
}

func TestLocalPutIfAbsentNeedsHardLinks(t *testing.T) {
	// A read-only directory makes the link fail with something other than
	// EEXIST; that must not be reported as "already exists".
	if os.Geteuid() == 0 {
		// root ignores directory permissions; use a key whose parent is a file.
		s := newLocal(t)
		ctx := context.Background()
		if err := s.Put(ctx, "file", []byte("x")); err != nil {
			t.Fatal(err)
		}
		err := s.PutIfAbsent(ctx, "file/child.json", []byte("y"))
		if err == nil || errors.Is(err, objstore.ErrExists) {
			t.Fatalf("PutIfAbsent under a file: got %v, want a non-ErrExists error", err)
		}
		return
	}
	s := newLocal(t)
	dir := filepath.Join(s.Root(), "ro")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	err := s.PutIfAbsent(context.Background(), "ro/x.json", []byte("y"))
	if err == nil || errors.Is(err, objstore.ErrExists) {
		t.Fatalf("PutIfAbsent in a read-only directory: got %v, want a non-ErrExists error", err)
	}
}
