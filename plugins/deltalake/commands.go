package deltalake

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/danube-connect/danube-connect/plugins/deltalake/deltaops"
)

// Flag names of the `delta` subcommands.
const (
	cmdFlagJSON                = "json"
	cmdFlagTargetSize          = "target-size"
	cmdFlagMinFiles            = "min-files"
	cmdFlagCompression         = "compression"
	cmdFlagRetention           = "retention"
	cmdFlagDryRun              = "dry-run"
	cmdFlagAllowShortRetention = "allow-short-retention"
)

func commonFlags() []cli.Flag {
	return append(storageFlags(), &cli.BoolFlag{Name: cmdFlagJSON, Usage: "print the result as JSON"})
}

// tableLocation is the one positional argument.
func tableLocation(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", fmt.Errorf("want exactly one table location (a path, s3://, az:// or gs:// URL), got %d arguments", c.NArg())
	}
	return c.Args().First(), nil
}

func printResult(c *cli.Context, v any, text string) error {
	if c.Bool(cmdFlagJSON) {
		return json.NewEncoder(c.App.Writer).Encode(v)
	}
	_, err := fmt.Fprintln(c.App.Writer, text)
	return err
}

// Commands returns the `delta` subcommands (optimize, vacuum) for the
// danube-connect CLI.
func Commands() []*cli.Command {
	return []*cli.Command{{
		Name:  "delta",
		Usage: "Maintain Delta Lake tables written by the delta_lake output",
		Subcommands: []*cli.Command{
			{
				Name:      "optimize",
				Usage:     "Compact small data files (bin-packing per partition, one OPTIMIZE commit; safe with running writers)",
				ArgsUsage: "<table-location>",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: cmdFlagTargetSize, Value: dlDefaultOptimizeTargetSize, Usage: "size of compacted files"},
					&cli.IntFlag{Name: cmdFlagMinFiles, Value: dlDefaultOptimizeMinFiles, Usage: "compact a partition only with at least this many small files"},
					&cli.StringFlag{Name: cmdFlagCompression, Value: "zstd", Usage: "zstd or snappy"},
				}, commonFlags()...),
				Action: runOptimize,
			},
			{
				Name:      "vacuum",
				Usage:     "Delete data files no version within the retention period references (orphans of crashed writers included)",
				ArgsUsage: "<table-location>",
				Flags: append([]cli.Flag{
					&cli.DurationFlag{Name: cmdFlagRetention, Value: mustDuration(dlDefaultVacuumRetention), Usage: "keep unreferenced files younger than this"},
					&cli.BoolFlag{Name: cmdFlagDryRun, Usage: "list the files without deleting them"},
					&cli.BoolFlag{Name: cmdFlagAllowShortRetention, Usage: "allow a retention below the table's delta.deletedFileRetentionDuration"},
				}, commonFlags()...),
				Action: runVacuum,
			},
		},
	}}
}

func runOptimize(c *cli.Context) error {
	location, err := tableLocation(c)
	if err != nil {
		return err
	}
	sc, err := storageConfigFromFlags(c)
	if err != nil {
		return err
	}
	target, err := humanize.ParseBytes(c.String(cmdFlagTargetSize))
	if err != nil {
		return fmt.Errorf("parsing --%s: %w", cmdFlagTargetSize, err)
	}
	// OPTIMIZE commits: the store must enforce put-if-absent, as for the output.
	store, err := openTableStore(c.Context, location, sc)
	if err != nil {
		return fmt.Errorf("optimizing %s: %w", location, err)
	}
	res, err := deltaops.OptimizeStore(c.Context, store, deltaops.OptimizeOptions{
		TargetSize: int64(target), MinFiles: c.Int(cmdFlagMinFiles), Compression: c.String(cmdFlagCompression),
	})
	if err != nil {
		return fmt.Errorf("optimizing %s: %w", store.URL(), err)
	}
	text := "nothing to compact"
	if res.Version >= 0 {
		text = fmt.Sprintf("version %d: %d files (%s) compacted into %d files (%s)", res.Version,
			res.FilesRemoved, humanize.IBytes(uint64(res.BytesRemoved)), res.FilesAdded, humanize.IBytes(uint64(res.BytesAdded)))
	}
	return printResult(c, res, text)
}

func runVacuum(c *cli.Context) error {
	location, err := tableLocation(c)
	if err != nil {
		return err
	}
	sc, err := storageConfigFromFlags(c)
	if err != nil {
		return err
	}
	retention, allowShort := c.Duration(cmdFlagRetention), c.Bool(cmdFlagAllowShortRetention)
	if retention < 0 {
		return fmt.Errorf("--%s must not be negative, got %s", cmdFlagRetention, retention)
	}
	if retention == 0 && !allowShort {
		// deltaops reads 0 as "the table's retention" unless short
		// retention is allowed, which would make this a silent no-op.
		return errors.New("--retention 0s would delete every unreferenced file, including files of commits still in progress, " +
			"and is below the table's delta.deletedFileRetentionDuration: pass --allow-short-retention to do that")
	}
	store, err := openStore(c.Context, location, sc)
	if err != nil {
		return fmt.Errorf("vacuuming %s: %w", location, err)
	}
	res, err := deltaops.VacuumStore(c.Context, store, deltaops.VacuumOptions{
		Retention: retention, DryRun: c.Bool(cmdFlagDryRun), AllowShortRetention: allowShort,
	})
	if err != nil {
		if !allowShort {
			return fmt.Errorf("vacuuming %s: %w (pass --%s to go below the table's retention)", store.URL(), err, cmdFlagAllowShortRetention)
		}
		return fmt.Errorf("vacuuming %s: %w", store.URL(), err)
	}
	verb := "deleted"
	if res.DryRun {
		verb = "would delete"
	}
	text := fmt.Sprintf("%s %d files (%s)", verb, len(res.Files), humanize.IBytes(uint64(res.Bytes)))
	for _, f := range res.Files {
		text += "\n  " + f
	}
	return printResult(c, res, text)
}
