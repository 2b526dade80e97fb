// Package imagefile checks uploaded bytes and decodes them: it knows which
// formats the app accepts and how to tell them apart by content alone.
package imagefile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // register decoders
	_ "image/jpeg" //
	_ "image/png"  //
	"io"

	"github.com/disintegration/imaging"
	_ "golang.org/x/image/webp" // register decoder
)

// Formats maps the content types we accept to a short name for messages.
var Formats = map[string]string{
	"image/jpeg": "JPEG",
	"image/png":  "PNG",
	"image/gif":  "GIF",
	"image/webp": "WebP",
}

// ErrUnsupported means the bytes are not one of the accepted formats.
var ErrUnsupported = errors.New("not a JPEG, PNG, GIF or WebP image")

// Sniff names the format from the first bytes of a file (12 are enough).
func Sniff(head []byte) (string, error) {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return "image/jpeg", nil
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png", nil
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "image/gif", nil
	case len(head) >= 12 && bytes.Equal(head[:4], []byte("RIFF")) && bytes.Equal(head[8:12], []byte("WEBP")):
		return "image/webp", nil
	}
	return "", ErrUnsupported
}

// Info is what the header of an image says.
type Info struct {
	ContentType string
	Width       int
	Height      int
}

// Inspect sniffs the format and reads the dimensions from the header only,
// so a decompression bomb is caught before any pixel is allocated.
func Inspect(r io.ReadSeeker, maxPixels int64) (Info, error) {
	head := make([]byte, 12)
	n, _ := io.ReadFull(r, head)
	if n == 0 {
		return Info{}, errors.New("the file is empty")
	}
	ct, err := Sniff(head[:n])
	if err != nil {
		return Info{}, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Info{}, err
	}
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return Info{}, fmt.Errorf("the %s header could not be read (%v); the file may be damaged", Formats[ct], err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Info{}, fmt.Errorf("the image has no pixels (%d×%d)", cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > maxPixels {
		return Info{}, fmt.Errorf("the image is %d×%d pixels (%.0f megapixels); the limit is %.0f megapixels",
			cfg.Width, cfg.Height, float64(px)/1e6, float64(maxPixels)/1e6)
	}
	return Info{ContentType: ct, Width: cfg.Width, Height: cfg.Height}, nil
}

// Decode decodes a whole image of an accepted format and turns it upright
// as its EXIF orientation says (imaging reads it from JPEG; PNG and WebP
// keep it in their own chunks, which Orientation reads).
func Decode(r io.ReadSeeker) (image.Image, error) {
	head := make([]byte, 12)
	n, _ := io.ReadFull(r, head)
	if n == 0 {
		return nil, errors.New("the file is empty")
	}
	ct, err := Sniff(head[:n])
	if err != nil {
		return nil, err
	}
	orientation := 1
	if ct != "image/jpeg" {
		if orientation, err = Orientation(r, ct); err != nil {
			orientation = 1 // a broken orientation is no reason to refuse the pixels
		}
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, err := imaging.Decode(bufio.NewReader(r), imaging.AutoOrientation(true))
	if err != nil {
		return nil, fmt.Errorf("the image could not be decoded (%v); the file may be truncated or damaged", err)
	}
	return orient(img, orientation), nil
}

// orient applies an EXIF orientation (1-8) to img.
func orient(img image.Image, orientation int) image.Image {
	switch orientation {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img)
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}
