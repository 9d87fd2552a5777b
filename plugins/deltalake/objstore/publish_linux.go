package objstore

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// publishNoReplace gives the synced temp file its final name unless that
// name exists (EEXIST). A hard link is the primary primitive; file systems
// without hard links (some FUSE mounts such as blobfuse or s3fs) refuse it
// with EPERM/ENOTSUP, and then renameat2(RENAME_NOREPLACE) is tried, which
// is just as atomic where the file system supports it.
func publishNoReplace(tmp, final string) (linked bool, err error) {
	err = linkFile(tmp, final)
	if err == nil || !linkUnsupported(err) {
		return err == nil, err
	}
	err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, final, unix.RENAME_NOREPLACE)
	if err != nil {
		return false, &os.LinkError{Op: "renameat2", Old: tmp, New: final, Err: err}
	}
	return false, nil
}

func linkUnsupported(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)
}
