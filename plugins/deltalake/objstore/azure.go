package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// AzureOptions configures the Azure Blob Storage (and ADLS Gen2) store.
// Without Key, SASToken or ConnectionString the store authenticates with
// Microsoft Entra ID through azidentity's DefaultAzureCredential (service
// principal from the environment, workload or managed identity, az login).
type AzureOptions struct {
	// Account is the storage account name ("devstoreaccount1" for Azurite).
	Account string
	// Key is the account's shared key (base64).
	Key string
	// Endpoint overrides the blob service URL, for example
	// "http://127.0.0.1:10000/devstoreaccount1" for Azurite. Default
	// https://<account>.blob.core.windows.net.
	Endpoint string
	// SASToken is a shared access signature (with or without the leading "?")
	// granting read, write, list, delete and create on the container.
	SASToken string
	// ConnectionString is an Azure Storage connection string; it supplies
	// account, key or SAS and endpoint together.
	ConnectionString string
}

const (
	azureBlockSize         = 8 << 20
	azureUploadConcurrency = 2
)

// Azure is a Store in one blob container under a name prefix.
type Azure struct {
	client    *container.Client
	container string
	prefix    string
	// listPageSize overrides the server's page size (tests).
	listPageSize int32
}

var _ Store = (*Azure)(nil)

// NewAzure returns a store for containerName, rooted at prefix.
func NewAzure(_ context.Context, containerName, prefix string, all Options) (*Azure, error) {
	opts := all.Azure
	if containerName == "" {
		return nil, errors.New("creating Azure store: empty container name")
	}
	retries := int32(all.maxAttempts() - 1)
	if retries == 0 {
		retries = -1 // azcore reads 0 as "default (3)"
	}
	clientOpts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: all.httpClient(),
		Retry:     policy.RetryOptions{MaxRetries: retries},
	}}
	var (
		client *container.Client
		err    error
	)
	switch {
	case opts.ConnectionString != "":
		client, err = container.NewClientFromConnectionString(opts.ConnectionString, containerName, clientOpts)
	case opts.Account == "" && opts.Endpoint == "":
		return nil, fmt.Errorf("creating Azure store for container %q: no storage account configured", containerName)
	default:
		endpoint := strings.TrimSuffix(opts.Endpoint, "/")
		if endpoint == "" {
			endpoint = "https://" + opts.Account + ".blob.core.windows.net"
		}
		containerURL := endpoint + "/" + containerName
		switch {
		case opts.Key != "":
			var cred *container.SharedKeyCredential
			if cred, err = container.NewSharedKeyCredential(opts.Account, opts.Key); err == nil {
				client, err = container.NewClientWithSharedKeyCredential(containerURL, cred, clientOpts)
			}
		case opts.SASToken != "":
			client, err = container.NewClientWithNoCredential(containerURL+"?"+strings.TrimPrefix(opts.SASToken, "?"), clientOpts)
		default:
			// Microsoft Entra ID: environment service principal, workload
			// identity, managed identity or a developer's az login.
			var cred *azidentity.DefaultAzureCredential
			if cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
				ClientOptions: clientOpts.ClientOptions,
			}); err == nil {
				client, err = container.NewClient(containerURL, cred, clientOpts)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("creating Azure store for container %q: %w", containerName, err)
	}
	return &Azure{client: client, container: containerName, prefix: normalizePrefix(prefix)}, nil
}

// URL returns az://container/prefix.
func (a *Azure) URL() string { return rootURL("az://"+a.container, a.prefix) }

// Client exposes the underlying container client (for tests and set-up).
func (a *Azure) Client() *container.Client { return a.client }

func (a *Azure) describe(key string) string { return "az://" + a.container + "/" + a.prefix + key }

func (a *Azure) blob(key string) (*blockblob.Client, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	return a.client.NewBlockBlobClient(a.prefix + key), nil
}

func mapAzureErr(key string, err error) error {
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("%w: %s", ErrNotExist, key)
	}
	if bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
		return fmt.Errorf("%w: %s", ErrExists, key)
	}
	var respErr *azcore.ResponseError
	if errors.As(err, &respErr) && respErr.ErrorCode == "" {
		// HEAD responses carry no error body, only the status.
		switch respErr.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %s", ErrNotExist, key)
		case http.StatusPreconditionFailed:
			return fmt.Errorf("%w: %s", ErrExists, key)
		}
	}
	return err
}

// Get reads a whole object.
func (a *Azure) Get(ctx context.Context, key string) ([]byte, error) {
	r, err := a.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", a.describe(key), err)
	}
	return data, nil
}

// Open streams an object.
func (a *Azure) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	b, err := a.blob(key)
	if err != nil {
		return nil, err
	}
	resp, err := b.DownloadStream(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", a.describe(key), mapAzureErr(key, err))
	}
	return resp.Body, nil
}

func (a *Azure) upload(ctx context.Context, key string, data []byte, cond *blob.AccessConditions) error {
	b, err := a.blob(key)
	if err != nil {
		return err
	}
	_, err = b.Upload(ctx, streaming.NopCloser(bytes.NewReader(data)), &blockblob.UploadOptions{AccessConditions: cond})
	return err
}

// Put writes or replaces an object with one Put Blob request.
func (a *Azure) Put(ctx context.Context, key string, data []byte) error {
	if err := a.upload(ctx, key, data, nil); err != nil {
		return fmt.Errorf("writing %s: %w", a.describe(key), mapAzureErr(key, err))
	}
	return nil
}

// PutIfAbsent creates an object with Put Blob and If-None-Match: *; the
// service answers 409 BlobAlreadyExists (or 412) when the name is taken.
func (a *Azure) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	cond := &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to(azcore.ETagAny)}}
	if err := a.upload(ctx, key, data, cond); err != nil {
		if err := confirmOwnWrite(ctx, a, key, data, mapAzureErr(key, err)); err != nil {
			return fmt.Errorf("creating %s: %w", a.describe(key), err)
		}
	}
	return nil
}

func to[T any](v T) *T { return &v }

// Create streams an object as staged blocks, committed (made visible) on
// Close. Blocks of an aborted upload are never committed; the service
// discards uncommitted blocks after a week.
func (a *Azure) Create(ctx context.Context, key string) (Upload, error) {
	b, err := a.blob(key)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	w := &pipeWriter{desc: a.describe(key), pw: pw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		_, err := b.UploadStream(ctx, pr, &blockblob.UploadStreamOptions{
			BlockSize: azureBlockSize, Concurrency: azureUploadConcurrency,
		})
		_ = pr.CloseWithError(errUploadEnded(err))
		w.uploadErr = err
	}()
	return w, nil
}

// List returns objects under prefix after startAfter, in key order. The
// Blob service has no start-after parameter, so earlier names are skipped
// here; ADLS Gen2 directory markers are skipped too.
func (a *Azure) List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error) {
	listOpts := &container.ListBlobsFlatOptions{
		Prefix:  to(a.prefix + prefix),
		Include: container.ListBlobsInclude{Metadata: true},
	}
	if a.listPageSize > 0 {
		listOpts.MaxResults = to(a.listPageSize)
	}
	pager := a.client.NewListBlobsFlatPager(listOpts)
	var out []ObjectInfo
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", a.describe(prefix), err)
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil || item.Properties == nil {
				continue
			}
			if v, ok := item.Metadata["hdi_isfolder"]; ok && v != nil && *v == "true" {
				continue
			}
			key := strings.TrimPrefix(*item.Name, a.prefix)
			if key <= startAfter {
				continue
			}
			info := ObjectInfo{Key: key}
			if item.Properties.ContentLength != nil {
				info.Size = *item.Properties.ContentLength
			}
			if item.Properties.LastModified != nil {
				info.ModTime = *item.Properties.LastModified
			}
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Stat returns the size and modification time of an object.
func (a *Azure) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	b, err := a.blob(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	props, err := b.GetProperties(ctx, nil)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stating %s: %w", a.describe(key), mapAzureErr(key, err))
	}
	info := ObjectInfo{Key: key}
	if props.ContentLength != nil {
		info.Size = *props.ContentLength
	}
	if props.LastModified != nil {
		info.ModTime = *props.LastModified
	}
	return info, nil
}

// Delete removes an object; a missing blob is not an error.
func (a *Azure) Delete(ctx context.Context, key string) error {
	b, err := a.blob(key)
	if err != nil {
		return err
	}
	if _, err := b.Delete(ctx, nil); err != nil {
		if errors.Is(mapAzureErr(key, err), ErrNotExist) {
			return nil
		}
		return fmt.Errorf("deleting %s: %w", a.describe(key), err)
	}
	return nil
}
