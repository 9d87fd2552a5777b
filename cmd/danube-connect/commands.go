package main

import "github.com/urfave/cli/v2"

// extraCommands are the danube-connect subcommands added to the Benthos CLI.
func extraCommands() []*cli.Command {
	return nil
}
