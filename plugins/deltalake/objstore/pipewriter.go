package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

func errUploadEnded(err error) error {
	if err != nil {
		return err
	}
	return errors.New("upload already finished")
}

// errAborted is fed to the upload as the body's read error to abandon it;
// the uploader then aborts the multipart upload.
var errAborted = errors.New("upload aborted by the writer")

// pipeWriter feeds a streaming SDK upload, running in its own goroutine,
// through an io.Pipe; the upload's result is collected on Close.
type pipeWriter struct {
	desc      string
	pw        *io.PipeWriter
	done      chan struct{}
	uploadErr error // set before done is closed
	finished  bool
	result    error
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	if w.finished {
		return 0, fmt.Errorf("writing %s: writer already closed", w.desc)
	}
	n, err := w.pw.Write(p)
	if err != nil {
		return n, fmt.Errorf("writing %s: %w", w.desc, err)
	}
	return n, nil
}

func (w *pipeWriter) Close() error {
	if w.finished {
		return w.result
	}
	w.finished = true
	_ = w.pw.Close()
	<-w.done
	if w.uploadErr != nil {
		w.result = fmt.Errorf("uploading %s: %w", w.desc, w.uploadErr)
	}
	return w.result
}

func (w *pipeWriter) Abort() error {
	if w.finished {
		return nil
	}
	w.finished = true
	w.result = fmt.Errorf("writing %s: %w", w.desc, errAborted)
	_ = w.pw.CloseWithError(errAborted)
	<-w.done
	return nil
}

// confirmOwnWrite resolves an ErrExists from a conditional create that the
// SDK retried: when a first attempt succeeded but its response was lost, the
// retry finds the key taken. If the object holds exactly data, that earlier
// attempt was this call's own, so the create succeeded. Delta commits are
// unique (commitInfo timestamps, UUID file names), so identical bytes from a
// different writer do not occur in practice.
func confirmOwnWrite(ctx context.Context, s interface {
	Get(context.Context, string) ([]byte, error)
}, key string, data []byte, err error) error {
	if !errors.Is(err, ErrExists) {
		return err
	}
	current, getErr := s.Get(ctx, key)
	if getErr == nil && bytes.Equal(current, data) {
		return nil
	}
	return err
}
