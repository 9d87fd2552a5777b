// Command danube-connect is a Benthos distribution that moves data between
// the Danube messaging platform and data and AI systems.
package main

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"

	// Benthos standard components.
	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure/extended"

	// danube-connect components.
	_ "github.com/danube-connect/danube-connect/plugins/clickhouse"
	_ "github.com/danube-connect/danube-connect/plugins/danube"
	_ "github.com/danube-connect/danube-connect/plugins/deltalake"
	_ "github.com/danube-connect/danube-connect/plugins/diskbuffer"
	_ "github.com/danube-connect/danube-connect/plugins/greptime"
	_ "github.com/danube-connect/danube-connect/plugins/lancedb"
	_ "github.com/danube-connect/danube-connect/plugins/prometheus"
	_ "github.com/danube-connect/danube-connect/plugins/webhook"
)

// Version and DateBuilt are stamped at build time with
// -ldflags "-X main.Version=... -X main.DateBuilt=...".
var (
	Version   = "dev"
	DateBuilt = "unknown"
)

func main() {
	opts := []service.CLIOptFunc{
		service.CLIOptSetVersion(Version, DateBuilt),
		service.CLIOptSetBinaryName("danube-connect"),
		service.CLIOptSetProductName("danube-connect"),
		service.CLIOptSetDocumentationURL("https://github.com/danube-connect/danube-connect"),
	}
	for _, cmd := range extraCommands() {
		opts = append(opts, service.CLIOptAddCommand(cmd))
	}
	service.RunCLI(context.Background(), opts...)
}
