package objstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// overwritingStore stands for an S3-compatible server that ignores
// If-None-Match.
type overwritingStore struct{ objstore.Store }

func (s overwritingStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return s.Put(ctx, key, data)
}

func TestVerifyPutIfAbsent(t *testing.T) {
	ctx := context.Background()
	st := newLocal(t)
	if err := objstore.VerifyPutIfAbsent(ctx, st); err != nil {
		t.Fatalf("local store: %v", err)
	}
	err := objstore.VerifyPutIfAbsent(ctx, overwritingStore{st})
	if !errors.Is(err, objstore.ErrNoAtomicCreate) {
		t.Fatalf("store ignoring the condition: got %v, want ErrNoAtomicCreate", err)
	}
	objs, err := st.List(ctx, "", "")
	if err != nil || len(objs) != 0 {
		t.Fatalf("probe objects left behind: %v, %v", objs, err)
	}
}
