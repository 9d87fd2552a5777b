package client

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff configures retries of transient failures: exponential growth from
// Initial to Max, each wait jittered uniformly into [50%, 100%] of its value
// so that many clients do not retry in lockstep.
type Backoff struct {
	Initial    time.Duration // first wait; default 100ms
	Max        time.Duration // cap of one wait; default 5s
	MaxRetries int           // retries of one operation before giving up; default 10, <0 means no retries
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 100 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.MaxRetries == 0 {
		b.MaxRetries = 10
	}
	if b.MaxRetries < 0 {
		b.MaxRetries = 0
	}
	return b
}

// delay is the jittered wait before retry number attempt (0-based).
func (b Backoff) delay(attempt int) time.Duration {
	d := b.Initial
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	half := int64(d) / 2
	return time.Duration(half + rand.Int64N(half+1))
}

// sleep waits for the backoff of attempt or until ctx or done ends.
func (b Backoff) sleep(ctx context.Context, done <-chan struct{}, attempt int) error {
	t := time.NewTimer(b.delay(attempt))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return ErrClosed
	}
}
