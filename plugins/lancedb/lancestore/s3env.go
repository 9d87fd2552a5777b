package lancestore

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

// S3 holds the object store settings for s3:// URIs. lancedb-go v0.1.2 hands
// only credentials to the native library, and as process environment
// variables; Lance's object store reads every AWS_* variable that names an
// object_store S3 option (AWS_ENDPOINT, AWS_ALLOW_HTTP, AWS_REGION, ...)
// when it opens a store. So these settings are applied to the process
// environment, before connecting: they hold for every lancedb output of the
// process, and two outputs with different values are refused.
type S3 struct {
	Region          string
	Endpoint        string // e.g. http://127.0.0.1:9000 for MinIO; http:// also sets AWS_ALLOW_HTTP
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

var (
	envMu  sync.Mutex
	envSet = map[string]string{} // the values this process's outputs set
)

func (s S3) env() map[string]string {
	m := map[string]string{}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put("AWS_REGION", s.Region)
	put("AWS_DEFAULT_REGION", s.Region)
	put("AWS_ENDPOINT", s.Endpoint)
	if strings.HasPrefix(s.Endpoint, "http://") {
		m["AWS_ALLOW_HTTP"] = "true"
	}
	put("AWS_ACCESS_KEY_ID", s.AccessKeyID)
	put("AWS_SECRET_ACCESS_KEY", s.SecretAccessKey)
	put("AWS_SESSION_TOKEN", s.SessionToken)
	return m
}

// applyS3Env sets the S3 settings as environment variables (with cgo, Go's
// os.Setenv also updates the C environment the native library reads).
func applyS3Env(s S3) error {
	envMu.Lock()
	defer envMu.Unlock()
	want := s.env()
	for k, v := range want {
		if prev, ok := envSet[k]; ok && prev != v {
			return fmt.Errorf("lancedb S3 settings conflict with another lancedb output of this process (%s differs): "+
				"lancedb-go applies them process-wide, so all lancedb outputs of one process must share them", k)
		}
	}
	for k, v := range want {
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("setting %s: %w", k, err)
		}
		envSet[k] = v
	}
	return nil
}
