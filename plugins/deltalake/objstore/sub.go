package objstore

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Sub returns a view of s rooted at prefix (a slash-separated directory such
// as "tables/events"): every key is resolved under it and List returns keys
// relative to it. Useful for one store per bucket with many table roots.
func Sub(s Store, prefix string) Store {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return s
	}
	if sub, ok := s.(*subStore); ok {
		return &subStore{base: sub.base, prefix: sub.prefix + prefix + "/"}
	}
	return &subStore{base: s, prefix: prefix + "/"}
}

type subStore struct {
	base   Store
	prefix string // ends with "/"
}

func (s *subStore) full(key string) (string, error) {
	if err := validateKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

func (s *subStore) Get(ctx context.Context, key string) ([]byte, error) {
	k, err := s.full(key)
	if err != nil {
		return nil, err
	}
	return s.base.Get(ctx, k)
}

func (s *subStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := s.full(key)
	if err != nil {
		return nil, err
	}
	return s.base.Open(ctx, k)
}

func (s *subStore) Put(ctx context.Context, key string, data []byte) error {
	k, err := s.full(key)
	if err != nil {
		return err
	}
	return s.base.Put(ctx, k, data)
}

func (s *subStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	k, err := s.full(key)
	if err != nil {
		return err
	}
	return s.base.PutIfAbsent(ctx, k, data)
}

func (s *subStore) Create(ctx context.Context, key string) (Upload, error) {
	k, err := s.full(key)
	if err != nil {
		return nil, err
	}
	return s.base.Create(ctx, k)
}

func (s *subStore) List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error) {
	after := ""
	if startAfter != "" {
		after = s.prefix + startAfter
	}
	objs, err := s.base.List(ctx, s.prefix+prefix, after)
	if err != nil {
		return nil, err
	}
	for i := range objs {
		rel, ok := strings.CutPrefix(objs[i].Key, s.prefix)
		if !ok {
			return nil, fmt.Errorf("listing %q: store returned key %q outside the prefix", prefix, objs[i].Key)
		}
		objs[i].Key = rel
	}
	return objs, nil
}

func (s *subStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	k, err := s.full(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	info, err := s.base.Stat(ctx, k)
	info.Key = key
	return info, err
}

func (s *subStore) Delete(ctx context.Context, key string) error {
	k, err := s.full(key)
	if err != nil {
		return err
	}
	return s.base.Delete(ctx, k)
}

func (s *subStore) URL() string {
	return strings.TrimSuffix(s.base.URL(), "/") + "/" + strings.TrimSuffix(s.prefix, "/")
}
