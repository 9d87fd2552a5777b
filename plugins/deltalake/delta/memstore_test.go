package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// memStore is an in-memory objstore.Store for unit tests, with optional
// fault injection on PutIfAbsent.
type memStore struct {
	mu      sync.Mutex
	objects map[string]memObject
	now     func() time.Time
	// failPut, if set, is consulted before each PutIfAbsent: a non-nil error is
	// returned; if landed is true the object is stored anyway (ambiguous failure).
	failPut func(key string) (landed bool, err error)
	// failList, if set, may fail a List call.
	failList func() error
	gets     int
}

type memObject struct {
	data    []byte
	modTime time.Time
}

func newMemStore() *memStore {
	return &memStore{objects: map[string]memObject{}, now: time.Now}
}

var _ objstore.Store = (*memStore)(nil)

func (m *memStore) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	o, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, objstore.ErrNotExist)
	}
	return append([]byte(nil), o.data...), nil
}

func (m *memStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	b, err := m.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memStore) Put(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = memObject{data: append([]byte(nil), data...), modTime: m.now()}
	return nil
}

func (m *memStore) PutIfAbsent(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failPut != nil {
		if landed, err := m.failPut(key); err != nil {
			if landed {
				if _, ok := m.objects[key]; !ok {
					m.objects[key] = memObject{data: append([]byte(nil), data...), modTime: m.now()}
				}
			}
			return err
		}
	}
	if _, ok := m.objects[key]; ok {
		return fmt.Errorf("put %s: %w", key, objstore.ErrExists)
	}
	m.objects[key] = memObject{data: append([]byte(nil), data...), modTime: m.now()}
	return nil
}

type memWriter struct {
	m       *memStore
	key     string
	buf     bytes.Buffer
	done    bool
	aborted bool
}

func (w *memWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("write after close")
	}
	return w.buf.Write(p)
}

func (w *memWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	if w.aborted {
		return errors.New("close after abort")
	}
	return w.m.Put(context.Background(), w.key, w.buf.Bytes())
}

func (w *memWriter) Abort() error {
	w.aborted = true
	return nil
}

func (m *memStore) Create(_ context.Context, key string) (objstore.Upload, error) {
	return &memWriter{m: m, key: key}, nil
}

func (m *memStore) List(_ context.Context, prefix, startAfter string) ([]objstore.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failList != nil {
		if err := m.failList(); err != nil {
			return nil, err
		}
	}
	var out []objstore.ObjectInfo
	for k, o := range m.objects {
		if strings.HasPrefix(k, prefix) && k > startAfter {
			out = append(out, objstore.ObjectInfo{Key: k, Size: int64(len(o.data)), ModTime: o.modTime})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (m *memStore) Stat(_ context.Context, key string) (objstore.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[key]
	if !ok {
		return objstore.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, objstore.ErrNotExist)
	}
	return objstore.ObjectInfo{Key: key, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

func (m *memStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, key)
	return nil
}

func (m *memStore) URL() string { return "mem://test" }

func (m *memStore) keys(prefix string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
