// Package export writes the app's data in forms other tools read.
package export

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"captionai/db"
	"captionai/storage"
)

var extensions = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}

// Captions writes the captions people corrected on public images, with
// the images (as stored: metadata stripped), to dir in the Flickr8k layout
// that training/ reads as an extra dataset: images/, captions.tsv and
// splits/train.txt (dev and test empty). It returns how many it wrote.
func Captions(ctx context.Context, store *db.Store, files storage.Store, dir string) (int, error) {
	caps, err := store.EditedPublicCaptions(ctx)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "images"), 0o755); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "splits"), 0o755); err != nil {
		return 0, err
	}
	var tsv, names strings.Builder
	for _, c := range caps {
		name := c.ImageID.String() + extensions[c.ContentType]
		if err := copyFile(ctx, files, c.StorageKey, filepath.Join(dir, "images", name)); err != nil {
			return 0, fmt.Errorf("image %s: %w", c.ImageID, err)
		}
		// One line per caption: tabs and newlines would break the format.
		text := strings.Join(strings.Fields(c.Text), " ")
		fmt.Fprintf(&tsv, "%s\t%s\n", name, text)
		fmt.Fprintln(&names, name)
	}
	for path, body := range map[string]string{
		"captions.tsv": tsv.String(), "splits/train.txt": names.String(), "splits/dev.txt": "", "splits/test.txt": "",
		"README.md": readme(len(caps)),
	} {
		if err := os.WriteFile(filepath.Join(dir, path), []byte(body), 0o644); err != nil {
			return 0, err
		}
	}
	return len(caps), nil
}

func copyFile(ctx context.Context, files storage.Store, key, dst string) error {
	src, err := files.Open(ctx, key)
	if err != nil {
		return err
	}
	defer src.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func readme(n int) string {
	return fmt.Sprintf(`# Captions corrected in CaptionAI

%d public photos whose owners (or moderators) wrote their own caption, exported by
`+"`captionai export captions DIR`"+`. Flickr8k layout: images/, captions.tsv
(image<TAB>caption), splits/train.txt (every image; dev and test are empty).
Train on it beside Flickr8k with training/'s --extra DIR (see training/README.md).
The photos are their uploaders' and were public when exported.
`, n)
}
