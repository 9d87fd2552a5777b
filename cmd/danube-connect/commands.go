package main

import (
	"github.com/urfave/cli/v2"

	"github.com/danube-connect/danube-connect/plugins/deltalake"
)

// extraCommands are the danube-connect subcommands added to the Benthos CLI.
func extraCommands() []*cli.Command {
	return deltalake.Commands()
}
