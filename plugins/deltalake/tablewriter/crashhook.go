//go:build !deltacrash

package tablewriter

// crashPoint is the kill -9 test hook; it exists only in binaries built
// with the deltacrash tag (see crashhook_deltacrash.go).
func crashPoint(string) {}
