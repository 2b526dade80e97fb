package imagefile

/*
#cgo pkg-config: vips
#include <stdlib.h>
#include <vips/vips.h>

// Shrink-on-load decode fitted to side x side, never enlarged, turned
// upright after the shrink (vips_thumbnail's default). A damaged file is
// an error, not pixels made up where the data is broken.
static int ca_thumbnail_buffer(void *buf, size_t len, int side, VipsImage **out) {
	return vips_thumbnail_buffer(buf, len, out, side, "height", side, "size", VIPS_SIZE_DOWN,
		"option_string", "fail_on=error", NULL);
}

// Fits an image in memory to side x side, never enlarged.
static int ca_thumbnail_image(VipsImage *in, int side, VipsImage **out) {
	return vips_thumbnail_image(in, out, side, "height", side, "size", VIPS_SIZE_DOWN, NULL);
}

// Renders in's pixels into memory once, so that later operations on the
// result do not decode the file again.
static int ca_copy_memory(VipsImage *in, VipsImage **out) {
	*out = vips_image_copy_memory(in);
	return *out ? 0 : -1;
}

static int ca_webp(VipsImage *in, int q, int effort, void **buf, size_t *len) {
	return vips_webpsave_buffer(in, buf, len, "Q", q, "effort", effort, "strip", TRUE, NULL);
}

// 8-bit sRGB with an alpha band, the layout of Go's image.NRGBA, written
// to a buffer the caller frees with g_free.
static int ca_nrgba(VipsImage *in, void **buf, size_t *len, int *w, int *h) {
	VipsImage *srgb = NULL, *alpha = NULL, *u8 = NULL;
	int ret = -1;
	if (vips_colourspace(in, &srgb, VIPS_INTERPRETATION_sRGB, NULL))
		goto done;
	if (srgb->Bands == 3) {
		if (vips_bandjoin_const1(srgb, &alpha, 255.0, NULL))
			goto done;
	} else {
		alpha = srgb;
		g_object_ref(alpha);
	}
	if (alpha->Bands != 4 || vips_cast_uchar(alpha, &u8, NULL))
		goto done;
	*buf = vips_image_write_to_memory(u8, len);
	if (!*buf)
		goto done;
	*w = u8->Xsize;
	*h = u8->Ysize;
	ret = 0;
done:
	if (srgb) g_object_unref(srgb);
	if (alpha) g_object_unref(alpha);
	if (u8) g_object_unref(u8);
	return ret;
}

static void ca_unref(VipsImage *im) { if (im) g_object_unref(im); }
*/
import "C"

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"time"
	"unsafe"
)

// Decoded is what one shrunk-on-load decode of an image file gives: the
// pixels the models look at and, when asked, the display sizes.
type Decoded struct {
	// Pixels are the image upright, in 8-bit sRGB, at most ModelSide
	// pixels on its long side (the models resize them to 224 px).
	Pixels *image.NRGBA
	// Derivatives are the display sizes, smallest first; nil unless asked.
	Derivatives []Derivative
	// DeriveTook is the time spent resizing and encoding them, after the
	// decode.
	DeriveTook time.Duration
}

// ModelSide is the long side of Decoded.Pixels: twice the models' 224 px
// input, so their own resize still averages several pixels into each.
const ModelSide = 448

// ModelSideFor is the long side of the pixels the models get for a w×h
// image: ModelSide, or more for an image so long and thin that its short
// side would fall under the models' 224 px input.
func ModelSideFor(w, h int) int {
	long, short := max(w, h), min(w, h)
	if short <= 0 {
		return ModelSide
	}
	return min(max(ModelSide, (224*long+short-1)/short), 4096)
}

// SharedCost is what DecodeShared and Derive hold in memory for file, for
// the decode budget: DeriveCost, or for PNG and GIF, whose decoders cannot
// shrink on load and decode an interlaced PNG whole, what Go's decoder
// would take when that is more (Estimate).
func SharedCost(file []byte) int64 {
	cost := DeriveCost(int64(len(file)))
	if ct, err := Sniff(file[:min(len(file), 12)]); err == nil && (ct == "image/png" || ct == "image/gif") {
		if n, err := Estimate(bytes.NewReader(file)); err == nil {
			cost = max(cost, n)
		}
	}
	return cost
}

// vipsError is libvips' error message, cleared. The buffer is shared by
// every thread, so it may hold another job's message too.
func vipsError(what string) error {
	msg := C.GoString(C.vips_error_buffer())
	C.vips_error_clear()
	return fmt.Errorf("%s: %s", what, msg)
}

// DecodeShared decodes an image file of an accepted format once, with
// libvips at reduced scale (a JPEG decodes at 1/2, 1/4 or 1/8 through
// libjpeg-turbo's DCT scaling, whichever still covers the largest size
// wanted), turns it upright after the shrink, and makes from those pixels
// both the models' input and, with derive, the display sizes that Derive
// makes. The models' input is at most ModelSide pixels long, or
// modelSide when that is larger, for images whose short side would
// otherwise fall under the models' 224 px (pass 0 for ModelSide).
func DecodeShared(file []byte, derive bool, modelSide int) (Decoded, error) {
	return decodeShared(file, derive, true, modelSide)
}

func decodeShared(file []byte, derive, pixels bool, modelSide int) (Decoded, error) {
	startVips()
	if _, err := Sniff(file[:min(len(file), 12)]); err != nil {
		return Decoded{}, err
	}
	if !derive && !pixels {
		return Decoded{}, nil
	}
	modelSide = max(modelSide, ModelSide)
	first := modelSide
	if !pixels {
		first = 0
	}
	if derive {
		first = max(first, DerivativeKinds[len(DerivativeKinds)-1].MaxSide)
	}
	// libvips reads the buffer lazily, after this call returns, which Go
	// memory may not be lent for: it gets a C copy, freed after the images
	// (deferred first, so run last).
	cfile := C.CBytes(file)
	defer C.free(cfile)
	var thumb, mem *C.VipsImage
	if C.ca_thumbnail_buffer(cfile, C.size_t(len(file)), C.int(first), &thumb) != 0 {
		return Decoded{}, fmt.Errorf("the image could not be decoded (%v); the file may be truncated or damaged", vipsError("libvips"))
	}
	defer C.ca_unref(thumb)
	// The one decode: everything below reads these pixels.
	if C.ca_copy_memory(thumb, &mem) != 0 {
		return Decoded{}, fmt.Errorf("the image could not be decoded (%v); the file may be truncated or damaged", vipsError("libvips"))
	}
	defer C.ca_unref(mem)

	var out Decoded
	if derive {
		start := time.Now()
		for _, k := range DerivativeKinds {
			d, err := encodeSize(mem, k.Kind, k.MaxSide)
			if err != nil {
				return Decoded{}, err
			}
			out.Derivatives = append(out.Derivatives, d)
		}
		out.DeriveTook = time.Since(start)
	}
	if !pixels {
		return out, nil
	}
	src := mem
	if int(mem.Xsize) > modelSide || int(mem.Ysize) > modelSide {
		var small *C.VipsImage
		if C.ca_thumbnail_image(mem, C.int(modelSide), &small) != 0 {
			return Decoded{}, vipsError("resizing for the model")
		}
		defer C.ca_unref(small)
		src = small
	}
	var buf unsafe.Pointer
	var n C.size_t
	var w, h C.int
	if C.ca_nrgba(src, &buf, &n, &w, &h) != 0 {
		return Decoded{}, vipsError("converting for the model")
	}
	defer C.g_free(C.gpointer(buf))
	if int(n) != 4*int(w)*int(h) {
		return Decoded{}, errors.New("libvips gave pixels of an unexpected size")
	}
	img := image.NewNRGBA(image.Rect(0, 0, int(w), int(h)))
	copy(img.Pix, unsafe.Slice((*byte)(buf), int(n)))
	out.Pixels = img
	return out, nil
}

// encodeSize fits mem to side (never enlarging it) and encodes it as WebP
// without metadata.
func encodeSize(mem *C.VipsImage, kind string, side int) (Derivative, error) {
	img := mem
	if int(mem.Xsize) > side || int(mem.Ysize) > side {
		var small *C.VipsImage
		if C.ca_thumbnail_image(mem, C.int(side), &small) != 0 {
			return Derivative{}, vipsError("resizing the " + kind + " size")
		}
		defer C.ca_unref(small)
		img = small
	}
	var buf unsafe.Pointer
	var n C.size_t
	if C.ca_webp(img, webpQuality, webpEffort, &buf, &n) != 0 {
		return Derivative{}, vipsError("encoding the " + kind + " size")
	}
	b := C.GoBytes(buf, C.int(n))
	C.g_free(C.gpointer(buf))
	// libvips 8.14's webpsave writes EXIF and XMP whatever strip says.
	b, err := bareWebP(b)
	if err != nil {
		return Derivative{}, fmt.Errorf("encoding the %s size: %w", kind, err)
	}
	sum := sha256.Sum256(b)
	return Derivative{Kind: kind, Width: int(img.Xsize), Height: int(img.Ysize), SHA256: hex.EncodeToString(sum[:]), Bytes: b}, nil
}
