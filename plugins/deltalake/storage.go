package deltalake

import (
	"context"
	"fmt"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/urfave/cli/v2"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

// The object-store options are one contract for the delta_lake output's
// `storage` fields and the flags of `danube-connect delta optimize|vacuum`:
// the same options, descriptions, defaults (all empty), secrets and
// validation, and the same put-if-absent check before anything commits.

const (
	stoCloudS3    = "s3"
	stoCloudAzure = "azure"
	stoCloudGCS   = "gcs"
)

// storageOption is one object-store setting: a field `storage.<cloud>.<name>`
// in the config and a flag `--<cloud>-<name with dashes>` on the CLI.
type storageOption struct {
	cloud  string
	name   string
	desc   string
	secret bool
	// env are the environment variables the CLI flag falls back to (the
	// config interpolates ${VAR} instead).
	env []string
	// str or boolean locate the option in objstore.Options.
	str     func(*objstore.Options) *string
	boolean func(*objstore.Options) *bool
}

func (o storageOption) flagName() string {
	return o.cloud + "-" + strings.ReplaceAll(o.name, "_", "-")
}

func (o storageOption) fieldPath() string {
	return dlFieldStorage + "." + o.cloud + "." + o.name
}

var storageOptions = []storageOption{
	{cloud: stoCloudS3, name: "region", desc: "AWS region.", env: []string{"AWS_REGION"},
		str: func(o *objstore.Options) *string { return &o.S3.Region }},
	{cloud: stoCloudS3, name: "endpoint", desc: "A custom endpoint (MinIO, other S3-compatible stores).", env: []string{"S3_ENDPOINT"},
		str: func(o *objstore.Options) *string { return &o.S3.Endpoint }},
	{cloud: stoCloudS3, name: "access_key_id", desc: "Access key id; empty uses the default AWS credential chain.", env: []string{"AWS_ACCESS_KEY_ID"},
		str: func(o *objstore.Options) *string { return &o.S3.AccessKeyID }},
	{cloud: stoCloudS3, name: "secret_access_key", desc: "Secret access key.", secret: true, env: []string{"AWS_SECRET_ACCESS_KEY"},
		str: func(o *objstore.Options) *string { return &o.S3.SecretAccessKey }},
	{cloud: stoCloudS3, name: "session_token", desc: "Session token, with temporary credentials.", secret: true, env: []string{"AWS_SESSION_TOKEN"},
		str: func(o *objstore.Options) *string { return &o.S3.SessionToken }},
	{cloud: stoCloudS3, name: "force_path_style", desc: "Path-style addressing (needed by MinIO).",
		boolean: func(o *objstore.Options) *bool { return &o.S3.ForcePathStyle }},
	{cloud: stoCloudAzure, name: "account", desc: "Storage account name.", env: []string{"AZURE_STORAGE_ACCOUNT"},
		str: func(o *objstore.Options) *string { return &o.Azure.Account }},
	{cloud: stoCloudAzure, name: "key", desc: "Shared account key.", secret: true, env: []string{"AZURE_STORAGE_KEY"},
		str: func(o *objstore.Options) *string { return &o.Azure.Key }},
	{cloud: stoCloudAzure, name: "endpoint", desc: "A custom blob endpoint (Azurite).",
		str: func(o *objstore.Options) *string { return &o.Azure.Endpoint }},
	{cloud: stoCloudAzure, name: "sas_token", desc: "A SAS token instead of the key.", secret: true, env: []string{"AZURE_STORAGE_SAS_TOKEN"},
		str: func(o *objstore.Options) *string { return &o.Azure.SASToken }},
	{cloud: stoCloudGCS, name: "endpoint", desc: "A custom endpoint (emulator).",
		str: func(o *objstore.Options) *string { return &o.GCS.Endpoint }},
	{cloud: stoCloudGCS, name: "credentials_json", desc: "Service account credentials JSON; without credentials, application default credentials are used.", secret: true,
		str: func(o *objstore.Options) *string { return &o.GCS.CredentialsJSON }},
	{cloud: stoCloudGCS, name: "credentials_file", desc: "Path of a credentials file, instead of the credentials JSON.", env: []string{"GOOGLE_APPLICATION_CREDENTIALS"},
		str: func(o *objstore.Options) *string { return &o.GCS.CredentialsFile }},
}

var storageCloudDescriptions = map[string]string{
	stoCloudS3:    "S3 settings, for `s3://` paths. The store must support conditional writes (`If-None-Match: *`).",
	stoCloudAzure: "Azure Blob Storage settings, for `az://` paths.",
	stoCloudGCS:   "Google Cloud Storage settings, for `gs://` paths.",
}

// storageSpecField is the output's `storage` object field.
func storageSpecField(name string) *service.ConfigField {
	var clouds []*service.ConfigField
	for _, cloud := range []string{stoCloudS3, stoCloudAzure, stoCloudGCS} {
		var fields []*service.ConfigField
		for _, o := range storageOptions {
			if o.cloud != cloud {
				continue
			}
			var f *service.ConfigField
			if o.boolean != nil {
				f = service.NewBoolField(o.name).Default(false)
			} else {
				f = service.NewStringField(o.name).Default("")
			}
			f = f.Description(o.desc)
			if o.secret {
				f = f.Secret()
			}
			fields = append(fields, f)
		}
		clouds = append(clouds, service.NewObjectField(cloud, fields...).Description(storageCloudDescriptions[cloud]))
	}
	return service.NewObjectField(name, clouds...).Description("Object store settings per cloud.").Advanced()
}

// storageConfig is the parsed storage contract: the options for objstore.Open.
type storageConfig struct {
	opts objstore.Options
}

// storeOptions returns the object-store options.
func (c storageConfig) storeOptions() objstore.Options { return c.opts }

// storageConfigFromParsed reads the output's `storage` namespace.
func storageConfigFromParsed(pConf *service.ParsedConfig) (storageConfig, error) {
	var c storageConfig
	for _, o := range storageOptions {
		ns := pConf.Namespace(o.cloud)
		var err error
		if o.boolean != nil {
			*o.boolean(&c.opts), err = ns.FieldBool(o.name)
		} else {
			*o.str(&c.opts), err = ns.FieldString(o.name)
		}
		if err != nil {
			return c, err
		}
	}
	return c, c.validate(storageOption.fieldPath)
}

// storageFlags are the CLI flags of the same options.
func storageFlags() []cli.Flag {
	var out []cli.Flag
	for _, o := range storageOptions {
		usage := strings.ReplaceAll(o.desc, "`", "")
		switch {
		case o.secret && len(o.env) > 0:
			usage += " Secret: prefer the environment variable, flags show in the process list."
		case o.secret:
			usage += " Secret: flags show in the process list."
		}
		if o.boolean != nil {
			out = append(out, &cli.BoolFlag{Name: o.flagName(), EnvVars: o.env, Usage: usage})
		} else {
			out = append(out, &cli.StringFlag{Name: o.flagName(), EnvVars: o.env, Usage: usage})
		}
	}
	return out
}

// storageConfigFromFlags reads the storage flags.
func storageConfigFromFlags(c *cli.Context) (storageConfig, error) {
	var sc storageConfig
	for _, o := range storageOptions {
		if o.boolean != nil {
			*o.boolean(&sc.opts) = c.Bool(o.flagName())
		} else {
			*o.str(&sc.opts) = c.String(o.flagName())
		}
	}
	return sc, sc.validate(func(o storageOption) string { return "--" + o.flagName() })
}

// validate refuses two credentials of one cloud where the store would
// silently use one and ignore the other; name renders an option as the
// caller spells it.
func (c storageConfig) validate(name func(storageOption) string) error {
	get := func(cloud, field string) (storageOption, string) {
		for _, o := range storageOptions {
			if o.cloud == cloud && o.name == field {
				return o, *o.str(&c.opts)
			}
		}
		panic("unknown storage option " + cloud + "." + field)
	}
	if key, kv := get(stoCloudAzure, "key"); kv != "" {
		if sas, sv := get(stoCloudAzure, "sas_token"); sv != "" {
			return fmt.Errorf("%s and %s are both set: use one", name(key), name(sas))
		}
	}
	if js, jv := get(stoCloudGCS, "credentials_json"); jv != "" {
		if file, fv := get(stoCloudGCS, "credentials_file"); fv != "" {
			return fmt.Errorf("%s and %s are both set: use one", name(js), name(file))
		}
	}
	return nil
}

// openStore opens the store rooted at a table location, for what only
// reads and deletes (VACUUM).
func openStore(ctx context.Context, location string, c storageConfig) (objstore.Store, error) {
	return objstore.Open(ctx, location, c.storeOptions())
}

// openTableStore opens the store rooted at a table location for anything
// that commits (the output, OPTIMIZE). Cloud stores are probed once: an
// S3-compatible server that ignores If-None-Match would let two writers both
// commit one version, so such a store is refused up front.
func openTableStore(ctx context.Context, location string, c storageConfig) (objstore.Store, error) {
	store, err := openStore(ctx, location, c)
	if err != nil {
		return nil, err
	}
	return store, verifyCloudStore(ctx, store)
}

// verifyCloudStore runs objstore.VerifyPutIfAbsent on every store but local
// disk, whose hard-link commit is atomic by construction.
func verifyCloudStore(ctx context.Context, store objstore.Store) error {
	if strings.HasPrefix(store.URL(), "file://") {
		return nil
	}
	return objstore.VerifyPutIfAbsent(ctx, store)
}
