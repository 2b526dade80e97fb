// Package storage keeps uploaded files. The app talks to the Store
// interface so that S3-compatible storage can replace the local directory.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound is returned by Open for a key that holds no file.
var ErrNotFound = errors.New("storage: file not found")

// Store saves, reads and deletes files by key.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	Open(ctx context.Context, key string) (File, error)
	Delete(ctx context.Context, key string) error
	// DeleteFolder removes every file whose key starts with folder, which
	// ends in "/"; an empty or missing folder is not an error.
	DeleteFolder(ctx context.Context, folder string) error
}

// checkFolder accepts a folder key: a key that ends in "/".
func checkFolder(folder string) error {
	if !strings.HasSuffix(folder, "/") || checkKey(strings.TrimSuffix(folder, "/")) != nil {
		return fmt.Errorf("storage: bad folder %q", folder)
	}
	return nil
}

// File is an open stored file.
type File interface {
	io.ReadSeekCloser
}

// Local stores files in a directory tree.
type Local struct {
	dir string
}

// NewLocal makes dir if needed and checks that it is writable.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("media directory %s: %w", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("media directory %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return &Local{dir: dir}, nil
}

func (l *Local) path(key string) (string, error) {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") {
		return "", fmt.Errorf("storage: bad key %q", key)
	}
	return filepath.Join(l.dir, filepath.FromSlash(key)), nil
}

// Put writes r to key through a temporary file, so a reader never sees a
// half-written file.
func (l *Local) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	p, err := l.path(key)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return 0, fmt.Errorf("storage: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".upload-*")
	if err != nil {
		return 0, fmt.Errorf("storage: %w", err)
	}
	n, err := io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return 0, fmt.Errorf("storage: writing %s: %w", key, err)
	}
	return n, nil
}

// Open opens the file stored under key.
func (l *Local) Open(ctx context.Context, key string) (File, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return f, nil
}

// Delete removes key; a missing file is not an error.
func (l *Local) Delete(ctx context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("storage: deleting %s: %w", key, err)
	}
	return nil
}

// DeleteFolder removes the directory folder names, with what it holds.
func (l *Local) DeleteFolder(ctx context.Context, folder string) error {
	if err := checkFolder(folder); err != nil {
		return err
	}
	p, err := l.path(strings.TrimSuffix(folder, "/"))
	if err != nil {
		return err
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("storage: deleting %s: %w", folder, err)
	}
	return nil
}
