package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	gpb "github.com/GreptimeTeam/greptime-proto/go/greptime/v1"
)

// Rows is the rows of one table, each from a message of the batch, with
// rows of one message adjacent.
type Rows interface {
	Len() int
	Message(i int) int
	Sub(lo, hi int) *gpb.RowInsertRequest
}

// Backoff bounds the retries of transient errors.
type Backoff struct {
	MaxRetries int           // retries after the first attempt
	Initial    time.Duration // first delay
	Max        time.Duration // cap of the delay
}

// delay is a full-jitter exponential delay for the retry n (0-based).
func (b Backoff) delay(n int) time.Duration {
	d := b.Initial
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// Observer receives what a Writer does, for metrics. table is the table the
// request carried when it carried exactly one (as while rejected rows are
// isolated), else "".
type Observer interface {
	// Request is called after every RPC.
	Request(table string, took time.Duration, err *Error)
	// Retry is called before a retry of err.
	Retry(table string, err *Error)
}

// Writer writes batches with retries and isolates rejected rows.
type Writer struct {
	Client  *Client
	Backoff Backoff
	Obs     Observer
}

// Result of a batch write: the messages whose rows the server rejected.
type Result struct {
	Failed map[int]error
}

// Write sends all tables in one request. Transient errors are retried
// within the Backoff; when they persist, or when the whole batch cannot be
// written, Write returns the error. When the server rejects data, the
// request is split (per table, then halves at message boundaries) until the
// rejected messages are found; they are returned in Result.Failed, every
// other row is written.
func (w *Writer) Write(ctx context.Context, names []string, tables []Rows) (Result, error) {
	var res Result
	all := make([]*gpb.RowInsertRequest, len(tables))
	for i, t := range tables {
		all[i] = t.Sub(0, t.Len())
	}
	err := w.send(ctx, all)
	if err == nil || ClassOf(err) != ClassRows {
		return res, describe(err, names)
	}
	res.Failed = map[int]error{}
	for i, t := range tables {
		var known error
		if len(tables) == 1 {
			known = err
		}
		if err := w.isolate(ctx, names[i], t, 0, t.Len(), known, res.Failed); err != nil {
			return res, err
		}
	}
	return res, nil
}

func describe(err error, names []string) error {
	if err == nil {
		return nil
	}
	if len(names) == 1 {
		return fmt.Errorf("table %s: %w", names[0], err)
	}
	return fmt.Errorf("tables %v: %w", names, err)
}

// isolate writes rows [lo, hi) of t, splitting on rejection. known is the
// rejection of exactly this range when already seen.
func (w *Writer) isolate(ctx context.Context, name string, t Rows, lo, hi int, known error, failed map[int]error) error {
	err := known
	if err == nil {
		err = w.send(ctx, []*gpb.RowInsertRequest{t.Sub(lo, hi)})
	}
	if err == nil {
		return nil
	}
	if ClassOf(err) != ClassRows {
		return fmt.Errorf("table %s: %w", name, err)
	}
	first, last := t.Message(lo), t.Message(hi-1)
	if first == last {
		failed[first] = fmt.Errorf("table %s: %w", name, err)
		return nil
	}
	mid := lo + (hi-lo)/2
	// Move mid to a message boundary, so that no message is split.
	for mid > lo && t.Message(mid) == t.Message(mid-1) {
		mid--
	}
	if mid == lo {
		for mid = lo + 1; mid < hi && t.Message(mid) == t.Message(lo); mid++ {
		}
	}
	if err := w.isolate(ctx, name, t, lo, mid, nil, failed); err != nil {
		return err
	}
	return w.isolate(ctx, name, t, mid, hi, nil, failed)
}

// send is one request with retries of transient errors.
func (w *Writer) send(ctx context.Context, inserts []*gpb.RowInsertRequest) error {
	var table string
	if len(inserts) == 1 {
		table = inserts[0].GetTableName()
	}
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := w.Client.Insert(ctx, inserts)
		var ge *Error
		if err != nil && !errors.As(err, &ge) {
			ge = &Error{Msg: err.Error()}
		}
		if w.Obs != nil {
			w.Obs.Request(table, time.Since(start), ge)
		}
		if err == nil {
			return nil
		}
		if ge.Class() != ClassRetry || attempt >= w.Backoff.MaxRetries {
			if attempt > 0 {
				return fmt.Errorf("after %d attempts: %w", attempt+1, err)
			}
			return err
		}
		if w.Obs != nil {
			w.Obs.Retry(table, ge)
		}
		t := time.NewTimer(w.Backoff.delay(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (retrying after: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
