package deltalake

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// optimizeTable compacts small files of the table in store (one OPTIMIZE
// commit; concurrent appends are never lost).
func optimizeTable(ctx context.Context, store objstore.Store, opts delta.OptimizeOptions) (*delta.OptimizeResult, error) {
	t, err := delta.Open(ctx, store, delta.TableOptions{EngineInfo: "danube-connect", CheckpointInterval: -1})
	if err != nil {
		return nil, err
	}
	defer t.Close(context.Background())
	return delta.Optimize(ctx, t, opts)
}

// vacuumTable deletes unreferenced data files older than the retention.
func vacuumTable(ctx context.Context, store objstore.Store, opts delta.VacuumOptions) (*delta.VacuumResult, error) {
	t, err := delta.Open(ctx, store, delta.TableOptions{EngineInfo: "danube-connect", CheckpointInterval: -1})
	if err != nil {
		return nil, err
	}
	defer t.Close(context.Background())
	return delta.Vacuum(ctx, t, opts)
}

func storageFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "s3-region", EnvVars: []string{"AWS_REGION"}, Usage: "S3 region"},
		&cli.StringFlag{Name: "s3-endpoint", EnvVars: []string{"S3_ENDPOINT"}, Usage: "S3-compatible endpoint (MinIO)"},
		&cli.StringFlag{Name: "s3-access-key-id", EnvVars: []string{"AWS_ACCESS_KEY_ID"}, Usage: "S3 access key id"},
		&cli.StringFlag{Name: "s3-secret-access-key", EnvVars: []string{"AWS_SECRET_ACCESS_KEY"}, Usage: "S3 secret access key"},
		&cli.StringFlag{Name: "azure-account", EnvVars: []string{"AZURE_STORAGE_ACCOUNT"}, Usage: "Azure storage account"},
		&cli.StringFlag{Name: "azure-key", EnvVars: []string{"AZURE_STORAGE_KEY"}, Usage: "Azure shared key"},
		&cli.StringFlag{Name: "azure-endpoint", Usage: "Azure blob endpoint (Azurite)"},
		&cli.StringFlag{Name: "gcs-endpoint", Usage: "GCS endpoint (emulator)"},
		&cli.StringFlag{Name: "gcs-credentials-file", EnvVars: []string{"GOOGLE_APPLICATION_CREDENTIALS"}, Usage: "GCS credentials file"},
		&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
	}
}

func storeFromFlags(c *cli.Context) (objstore.Store, error) {
	if c.NArg() != 1 {
		return nil, fmt.Errorf("want exactly one table location (a path, s3://, az:// or gs:// URL), got %d arguments", c.NArg())
	}
	var opts objstore.Options
	opts.S3.Region = c.String("s3-region")
	opts.S3.Endpoint = c.String("s3-endpoint")
	opts.S3.AccessKeyID = c.String("s3-access-key-id")
	opts.S3.SecretAccessKey = c.String("s3-secret-access-key")
	opts.Azure.Account = c.String("azure-account")
	opts.Azure.Key = c.String("azure-key")
	opts.Azure.Endpoint = c.String("azure-endpoint")
	opts.GCS.Endpoint = c.String("gcs-endpoint")
	opts.GCS.CredentialsFile = c.String("gcs-credentials-file")
	return objstore.Open(c.Context, c.Args().First(), opts)
}

func printResult(c *cli.Context, v any, text string) error {
	if c.Bool("json") {
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
					&cli.StringFlag{Name: "target-size", Value: "256MiB", Usage: "size of compacted files"},
					&cli.IntFlag{Name: "min-files", Value: 2, Usage: "compact a partition only with at least this many small files"},
					&cli.StringFlag{Name: "compression", Value: "zstd", Usage: "zstd or snappy"},
				}, storageFlags()...),
				Action: func(c *cli.Context) error {
					store, err := storeFromFlags(c)
					if err != nil {
						return err
					}
					target, err := humanize.ParseBytes(c.String("target-size"))
					if err != nil {
						return fmt.Errorf("parsing --target-size: %w", err)
					}
					res, err := optimizeTable(c.Context, store, delta.OptimizeOptions{
						TargetSize: int64(target), MinFiles: c.Int("min-files"), Compression: c.String("compression"),
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
				},
			},
			{
				Name:      "vacuum",
				Usage:     "Delete data files no version within the retention period references (orphans of crashed writers included)",
				ArgsUsage: "<table-location>",
				Flags: append([]cli.Flag{
					&cli.DurationFlag{Name: "retention", Value: 168 * time.Hour, Usage: "keep unreferenced files younger than this"},
					&cli.BoolFlag{Name: "dry-run", Usage: "list the files without deleting them"},
					&cli.BoolFlag{Name: "allow-short-retention", Usage: "allow a retention below the table's delta.deletedFileRetentionDuration"},
				}, storageFlags()...),
				Action: func(c *cli.Context) error {
					store, err := storeFromFlags(c)
					if err != nil {
						return err
					}
					res, err := vacuumTable(c.Context, store, delta.VacuumOptions{
						Retention: c.Duration("retention"), DryRun: c.Bool("dry-run"), AllowShortRetention: c.Bool("allow-short-retention"),
					})
					if err != nil {
						if !c.Bool("allow-short-retention") {
							return fmt.Errorf("vacuuming %s: %w (pass --allow-short-retention to go below the table's retention)", store.URL(), err)
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
				},
			},
		},
	}}
}
