package objstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// ErrNoAtomicCreate is returned by VerifyPutIfAbsent when a store accepted
// a second conditional create of the same key.
var ErrNoAtomicCreate = errors.New("the store does not enforce put-if-absent")

// VerifyPutIfAbsent checks that the server really enforces PutIfAbsent:
// some S3-compatible servers ignore If-None-Match and silently overwrite,
// which would let two Delta writers both "win" one version. It creates a
// hidden probe object twice (the second must fail with ErrExists) and
// deletes it. Call it once before committing to a store.
func VerifyPutIfAbsent(ctx context.Context, s Store) error {
	key := ".danube-connect-probe-" + uuid.NewString()
	if err := s.PutIfAbsent(ctx, key, []byte("first")); err != nil {
		return fmt.Errorf("verifying put-if-absent on %s: %w", s.URL(), err)
	}
	defer func() { _ = s.Delete(context.WithoutCancel(ctx), key) }()
	err := s.PutIfAbsent(ctx, key, []byte("second"))
	switch {
	case errors.Is(err, ErrExists):
		return nil
	case err == nil:
		return fmt.Errorf("verifying put-if-absent on %s: a second create of %s succeeded: %w", s.URL(), key, ErrNoAtomicCreate)
	default:
		return fmt.Errorf("verifying put-if-absent on %s: %w", s.URL(), err)
	}
}
