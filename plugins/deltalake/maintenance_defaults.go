package deltalake

import "time"

// The optimize and vacuum defaults, shared by the output's spec and the
// `danube-connect delta optimize|vacuum` flags.
const (
	dlDefaultOptimizeInterval   = "1h"
	dlDefaultOptimizeTargetSize = "256MiB"
	dlDefaultOptimizeMinFiles   = 10
	dlDefaultVacuumInterval     = "24h"
	dlDefaultVacuumRetention    = "168h"
)

// mustDuration parses one of the duration defaults above.
func mustDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}
