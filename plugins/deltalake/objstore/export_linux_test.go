package objstore

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// WithoutHardLinks makes PutIfAbsent see a file system that refuses hard
// links (as some FUSE mounts do) for the rest of the test.
func WithoutHardLinks(t *testing.T) {
	t.Cleanup(func() { linkFile = os.Link })
	linkFile = func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: unix.EPERM}
	}
}
