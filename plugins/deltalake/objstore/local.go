package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/google/uuid"
)

// Local is a Store on a local (POSIX) file system rooted at a directory.
//
// Writes go to a hidden temp file in the destination directory first
// (".<name>.<uuid>.tmp", hidden so Delta readers and VACUUM ignore it), are
// fsynced, then published: Put and Create rename over the destination,
// PutIfAbsent hard-links the temp file to the destination, which the kernel
// refuses with EEXIST when the name is taken. That makes PutIfAbsent atomic
// without any check-then-rename window.
type Local struct {
	root string
}

var _ Store = (*Local)(nil)

// NewLocal returns a store rooted at dir, creating dir if it is missing.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("creating local store: empty root directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("creating local store at %q: %w", dir, err)
	}
	if err := mkdirAllSynced(abs); err != nil {
		return nil, fmt.Errorf("creating local store at %q: %w", abs, err)
	}
	return &Local{root: abs}, nil
}

// Root returns the absolute directory the store is rooted at.
func (l *Local) Root() string { return l.root }

// URL returns the file:// URL of the root directory.
func (l *Local) URL() string { return "file://" + filepath.ToSlash(l.root) }

// path maps a key to a file path under the root, refusing keys that would
// escape it.
func (l *Local) path(key string) (string, error) {
	if err := validateKey(key); err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(key)), nil
}

// validateKey refuses empty, absolute and non-canonical keys ("a//b", "../x",
// "a/./b", trailing slash): every key names exactly one object under the root.
func validateKey(key string) error {
	if key == "" {
		return errors.New("empty object key")
	}
	if strings.HasPrefix(key, "/") || path.Clean(key) != key || key == "." || key == ".." || strings.HasPrefix(key, "../") {
		return fmt.Errorf("invalid object key %q: must be a clean relative slash-separated path", key)
	}
	return nil
}

// isTempName reports whether a file name is one of this store's (or Spark's)
// hidden staging files, which List must not return.
func isTempName(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp")
}

// linkFile is os.Link, replaceable in tests to simulate file systems
// without hard links.
var linkFile = os.Link

func mapLocalErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotExist, key)
	}
	return err
}

// Get reads a whole object.
func (l *Local) Get(_ context.Context, key string) ([]byte, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, mapLocalErr(key, err))
	}
	return data, nil
}

// Open streams an object.
func (l *Local) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", key, mapLocalErr(key, err))
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		_ = f.Close()
		return nil, fmt.Errorf("opening %s: %w", key, mapLocalErr(key, fs.ErrNotExist))
	}
	return f, nil
}

// createTemp makes the destination directory and a hidden temp file beside
// the destination, so that rename/link stay within one file system.
func (l *Local) createTemp(key string) (tmp *os.File, final string, err error) {
	final, err = l.path(key)
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Dir(final)
	if err := mkdirAllSynced(dir); err != nil {
		return nil, "", fmt.Errorf("creating directory for %s: %w", key, err)
	}
	name := filepath.Join(dir, "."+filepath.Base(final)+"."+uuid.NewString()+".tmp")
	tmp, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("creating temp file for %s: %w", key, err)
	}
	return tmp, final, nil
}

// writeTemp writes data to a synced, closed temp file and returns its name.
func (l *Local) writeTemp(key string, data []byte) (tmpName, final string, err error) {
	tmp, final, err := l.createTemp(key)
	if err != nil {
		return "", "", err
	}
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return "", "", fmt.Errorf("writing temp file for %s: %w", key, err)
	}
	return tmp.Name(), final, nil
}

// mkdirAllSynced is os.MkdirAll that also fsyncs the parent of every
// directory it creates, so that a file published into a new directory (the
// first commit's _delta_log/, a new partition) survives a crash once its own
// directory is synced.
func mkdirAllSynced(dir string) error {
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllSynced(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // created concurrently
		}
		return err
	}
	return syncDir(parent)
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Put writes or replaces an object atomically (temp file + rename).
func (l *Local) Put(_ context.Context, key string, data []byte) error {
	tmp, final, err := l.writeTemp(key, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("publishing %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return fmt.Errorf("syncing directory of %s: %w", key, err)
	}
	return nil
}

// PutIfAbsent creates an object only if the key is free: the synced temp
// file is hard-linked to the final name (or, where hard links are not
// supported, renamed with RENAME_NOREPLACE), which fails with EEXIST if
// another writer got there first.
func (l *Local) PutIfAbsent(_ context.Context, key string, data []byte) error {
	tmp, final, err := l.writeTemp(key, data)
	if err != nil {
		return err
	}
	linked, linkErr := publishNoReplace(tmp, final)
	if linked || linkErr != nil {
		// The temp name is only a staging handle; after a link the content
		// lives on under the final name.
		_ = os.Remove(tmp)
	}
	if linkErr != nil {
		if errors.Is(linkErr, fs.ErrExist) {
			return fmt.Errorf("creating %s: %w", key, ErrExists)
		}
		return fmt.Errorf("creating %s (needs hard links or renameat2 RENAME_NOREPLACE): %w", key, linkErr)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return fmt.Errorf("syncing directory of %s: %w", key, err)
	}
	return nil
}

// Create streams a new object into a temp file, renamed into place on Close.
func (l *Local) Create(_ context.Context, key string) (Upload, error) {
	tmp, final, err := l.createTemp(key)
	if err != nil {
		return nil, err
	}
	return &localWriter{key: key, f: tmp, final: final}, nil
}

type localWriter struct {
	key   string
	f     *os.File
	final string
	done  bool
	err   error
}

func (w *localWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("writing %s: writer already closed", w.key)
	}
	n, err := w.f.Write(p)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", w.key, err)
	}
	return n, err
}

func (w *localWriter) Close() error {
	if w.done {
		return w.err
	}
	w.done = true
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.f.Name(), w.final)
	}
	if err == nil {
		err = syncDir(filepath.Dir(w.final))
	}
	if err != nil {
		_ = os.Remove(w.f.Name())
		w.err = fmt.Errorf("finishing %s: %w", w.key, err)
	}
	return w.err
}

func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.err = fmt.Errorf("writing %s: aborted", w.key)
	_ = w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("aborting %s: %w", w.key, err)
	}
	return nil
}

// List returns the objects under prefix sorting after startAfter, in key
// order. It walks only the deepest directory the prefix names and skips
// hidden temp files.
func (l *Local) List(_ context.Context, prefix, startAfter string) ([]ObjectInfo, error) {
	dirPart := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dirPart = prefix[:i]
	}
	start := l.root
	if dirPart != "" {
		p, err := l.path(dirPart)
		if err != nil {
			return nil, fmt.Errorf("listing %q: %w", prefix, err)
		}
		start = p
	}
	var out []ObjectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // the prefix directory does not exist (yet), or raced with a delete
			}
			return err
		}
		if d.IsDir() || isTempName(d.Name()) {
			return nil
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) || key <= startAfter {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted while listing
			}
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		out = append(out, ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %q: %w", prefix, err)
	}
	// WalkDir orders per directory entry name, which differs from key order
	// ("a/b" > "a.b" although the "a" directory is visited first).
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Stat returns the size and modification time of an object.
func (l *Local) Stat(_ context.Context, key string) (ObjectInfo, error) {
	p, err := l.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	info, err := os.Stat(p)
	if err == nil && info.IsDir() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stating %s: %w", key, mapLocalErr(key, err))
	}
	return ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()}, nil
}

// Delete removes an object; a missing key is not an error.
func (l *Local) Delete(_ context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	return nil
}
