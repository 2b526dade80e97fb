package imagefile

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"

	"github.com/davidbyttow/govips/v2/vips"
)

// Display sizes of every image, made once by the worker (Derive) and
// served instead of the original on pages. Each fits its long side in
// MaxSide pixels and is never larger than the original.
const (
	Card = "card" // gallery tiles, /me and batch cards
	View = "view" // the image page
)

// DerivativeKinds lists the sizes Derive makes, smallest first, with their
// long side.
var DerivativeKinds = []struct {
	Kind    string
	MaxSide int
}{{Card, 480}, {View, 1600}}

// DerivativeType is the content type of every derivative.
const DerivativeType = "image/webp"

// webpQuality is the lossy WebP quality of derivatives, and webpEffort
// libwebp's method (0-6, libvips' default 4): 2 encodes a 1600 px view about
// a third faster than 4 for files about 4 % larger.
const (
	webpQuality = 75
	webpEffort  = 2
)

// Derivative is one encoded display size of an image.
type Derivative struct {
	Kind          string
	Width, Height int
	SHA256        string // hex of Bytes
	Bytes         []byte
}

var startVips = sync.OnceFunc(func() {
	vips.LoggingSettings(func(domain string, level vips.LogLevel, msg string) {
		slog.Warn("libvips: "+msg, "domain", domain)
	}, vips.LogLevelWarning)
	vips.Startup(&vips.Config{
		// One image at a time per worker slot: the worker's jobs already run
		// in parallel, so libvips needs no threads of its own per image.
		ConcurrencyLevel: 1,
		// Each image is seen once: libvips' operation cache would only
		// keep decoded pixels alive.
		MaxCacheFiles: 0,
		MaxCacheMem:   0,
		MaxCacheSize:  0,
	})
})

// DeriveCost is what Derive holds in memory for a JPEG or WebP file of n
// bytes (see SharedCost for every format), for the decode budget: the file, libvips' shrunk-on-load decode (a JPEG decodes at
// 1/2, 1/4 or 1/8 of its size, close to the target), the resized image and
// its encoding, counted at the largest size, 4 bytes a pixel, twice over.
func DeriveCost(n int64) int64 {
	side := int64(DerivativeKinds[len(DerivativeKinds)-1].MaxSide)
	return n + 2*2*side*side*4
}

// Derive makes the display sizes of an image file of an accepted format,
// as lossy WebP, from one decode shrunk on load (as DecodeForModel does): JPEG's
// DCT scaling, WebP's scaled decode. Each is resized to fit its long side,
// turned upright as its EXIF orientation says (after the shrink, so the
// full size is never turned), converted to sRGB, and written with no
// metadata at all. An image smaller than a size is kept at its own size,
// never enlarged.
func Derive(file []byte) ([]Derivative, error) {
	d, err := decodeShared(file, true, false, 0)
	return d.Derivatives, err
}

// bareWebP drops the EXIF, XMP and ICC chunks of a WebP file and their
// flags in its VP8X header; the image chunks are kept byte for byte.
func bareWebP(b []byte) ([]byte, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return nil, errors.New("libvips wrote no WebP file")
	}
	out := append(make([]byte, 0, len(b)), b[:12]...)
	for rest := b[12:]; len(rest) > 0; {
		if len(rest) < 8 {
			return nil, errors.New("a truncated WebP chunk")
		}
		n := int(binary.LittleEndian.Uint32(rest[4:8]))
		end := 8 + n + n%2 // chunks are padded to an even size
		if n < 0 || end > len(rest) {
			return nil, errors.New("a WebP chunk runs past the file")
		}
		chunk := rest[:end]
		switch string(chunk[:4]) {
		case "EXIF", "XMP ", "ICCP":
		case "VP8X":
			chunk = append([]byte{}, chunk...)
			if len(chunk) > 8 {
				chunk[8] &^= 0x20 | 0x08 | 0x04 // ICC, EXIF, XMP
			}
			out = append(out, chunk...)
		default:
			out = append(out, chunk...)
		}
		rest = rest[end:]
	}
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(out)-8))
	return out, nil
}
