package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
)

// Open returns the store that rawURL (STORAGE_URL) names: s3://BUCKET?...
// for S3-compatible object storage, file:///PATH for a local directory, or,
// when it is empty, the local directory mediaDir.
func Open(rawURL string, mediaDir string) (Store, error) {
	if rawURL == "" {
		return NewLocal(mediaDir)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("STORAGE_URL: %w", err)
	}
	switch u.Scheme {
	case "s3":
		return newS3(u)
	case "file":
		if (u.Host != "" && u.Host != "localhost") || u.Path == "" || u.RawQuery != "" {
			return nil, fmt.Errorf("STORAGE_URL %s: want file:///ABSOLUTE/PATH", rawURL)
		}
		return NewLocal(u.Path)
	}
	return nil, fmt.Errorf("STORAGE_URL %s: want s3://BUCKET?endpoint=URL&region=REGION or file:///PATH", u.Redacted())
}

// Stat returns the size of the file under key, or ErrNotFound.
func (l *Local) Stat(ctx context.Context, key string) (int64, error) {
	p, err := l.path(key)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("storage: %w", err)
	}
	return fi.Size(), nil
}

// Stat returns the size of the file under key in s, or ErrNotFound.
func Stat(ctx context.Context, s Store, key string) (int64, error) {
	if st, ok := s.(interface {
		Stat(context.Context, string) (int64, error)
	}); ok {
		return st.Stat(ctx, key)
	}
	f, err := s.Open(ctx, key)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Seek(0, io.SeekEnd)
}

// CopyStats counts what Copy did.
type CopyStats struct {
	Copied, Skipped, Missing int
	Bytes                    int64 // copied
}

// copyPage is how many keys Copy asks list for at a time.
var copyPage = 500

// Copy copies the files under the keys that list pages through (up to
// limit keys after after, in order; an empty page ends) from one store to
// another. A key the target already holds is skipped, so a run after an
// interruption goes on where the last one stopped: Put is atomic in both
// backends, so a file that is there is whole. A key missing from the source
// is counted and reported, not fatal. progress, if set, hears of each key.
func Copy(ctx context.Context, from, to Store, list func(ctx context.Context, after string, limit int) ([]string, error),
	progress func(key string, st CopyStats, err error)) (CopyStats, error) {
	var st CopyStats
	after := ""
	for {
		keys, err := list(ctx, after, copyPage)
		if err != nil {
			return st, err
		}
		if len(keys) == 0 {
			return st, nil
		}
		for _, key := range keys {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			n, err := copyOne(ctx, from, to, key)
			switch {
			case errors.Is(err, errPresent):
				st.Skipped++
				err = nil
			case errors.Is(err, ErrNotFound):
				st.Missing++
			case ctx.Err() != nil:
				return st, ctx.Err()
			case err != nil:
				return st, fmt.Errorf("copying %s: %w", key, err)
			default:
				st.Copied++
				st.Bytes += n
			}
			if progress != nil {
				progress(key, st, err)
			}
		}
		after = keys[len(keys)-1]
	}
}

var errPresent = errors.New("already in the target")

func copyOne(ctx context.Context, from, to Store, key string) (int64, error) {
	if _, err := Stat(ctx, to, key); err == nil {
		return 0, errPresent
	} else if !errors.Is(err, ErrNotFound) {
		return 0, err
	}
	f, err := from.Open(ctx, key)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return to.Put(ctx, key, f)
}
