//go:build !linux

package objstore

// publishNoReplace gives the synced temp file its final name unless that
// name exists, with a hard link (EEXIST when taken).
func publishNoReplace(tmp, final string) (linked bool, err error) {
	err = linkFile(tmp, final)
	return err == nil, err
}
