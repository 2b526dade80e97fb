package imagefile

/*
#cgo pkg-config: vips libjpeg
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <vips/vips.h>

// libvips feeds libjpeg from a 4 KB buffer, which keeps libjpeg-turbo's
// Huffman decoder off its fast path (it wants 512 bytes per block of an
// MCU in hand): a 3 MB 12 MP photo then decodes a third slower than from
// memory. ca_jpeg_memory decodes a plain JPEG (8-bit, grey or colour, no
// colour profile) straight from memory into a libvips image, with the same
// libjpeg and settings, so the pixels are libvips' own. Anything the
// library warns about, and every error, returns -1: the caller then hands
// the file to libvips, whose rules and messages apply.
struct ca_jpeg_error {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
};

static void ca_jpeg_exit(j_common_ptr c) { longjmp(((struct ca_jpeg_error *)c->err)->jump, 1); }
static void ca_jpeg_emit(j_common_ptr c, int level) {
	if (level < 0)
		longjmp(((struct ca_jpeg_error *)c->err)->jump, 1);
}
static void ca_jpeg_quiet(j_common_ptr c) {}

static int ca_jpeg_memory(const void *buf, size_t len, int shrink, int bands, VipsImage **out) {
	struct jpeg_decompress_struct d;
	struct ca_jpeg_error e;
	VipsImage *volatile im = NULL;
	d.err = jpeg_std_error(&e.pub);
	e.pub.error_exit = ca_jpeg_exit;
	e.pub.emit_message = ca_jpeg_emit;
	e.pub.output_message = ca_jpeg_quiet;
	jpeg_create_decompress(&d);
	if (setjmp(e.jump)) {
		jpeg_destroy_decompress(&d);
		if (im)
			g_object_unref(im);
		return -1;
	}
	jpeg_mem_src(&d, (const unsigned char *)buf, len);
	jpeg_read_header(&d, TRUE);
	if (d.num_components != bands || d.data_precision != 8)
		longjmp(e.jump, 1);
	d.out_color_space = bands == 3 ? JCS_RGB : JCS_GRAYSCALE;
	d.scale_num = 1;
	d.scale_denom = shrink;
	jpeg_start_decompress(&d);
	// libvips keeps the whole pixels of a scaled decode, dropping the
	// partial last column and row libjpeg rounds up to.
	int w = VIPS_MAX(1, d.image_width / shrink), h = VIPS_MAX(1, d.image_height / shrink);
	if (w > (int)d.output_width || h > (int)d.output_height)
		longjmp(e.jump, 1);
	im = vips_image_new_memory();
	vips_image_init_fields(im, w, h, bands, VIPS_FORMAT_UCHAR, VIPS_CODING_NONE,
		bands == 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W, 1.0, 1.0);
	if (vips_image_write_prepare(im))
		longjmp(e.jump, 1);
	JSAMPARRAY row = (*d.mem->alloc_sarray)((j_common_ptr)&d, JPOOL_IMAGE, d.output_width * bands, 1);
	// Every row is read, so that a truncated or damaged end is noticed.
	while (d.output_scanline < d.output_height) {
		int y = d.output_scanline;
		jpeg_read_scanlines(&d, row, 1);
		if (y < h)
			memcpy(VIPS_IMAGE_ADDR(im, 0, y), row[0], (size_t)w * bands);
	}
	jpeg_finish_decompress(&d);
	jpeg_destroy_decompress(&d);
	*out = im;
	return 0;
}

// Shrink-on-load decode fitted to side x side, never enlarged, turned
// upright after the shrink (vips_thumbnail's default). A damaged file is
// an error, not pixels made up where the data is broken.
//
// A JPEG is loaded at the smallest DCT scale (1/2, 1/4 or 1/8) that still
// covers side: vips_thumbnail would keep a factor of two in hand for its
// own resize, and so decode a 4000 px photo at 1/4 for 448 px and whole
// for 1600 px, two and four times the pixels. libjpeg's scaled IDCT
// filters as it shrinks, so the last resize has little left to do. With
// loose, a JPEG within twice side and with no colour profile to convert
// is only turned upright, not resized (the models resize it anyway): the
// resize costs a fifth of the decode.
//
// width x height is the size the file's header gives (imagefile.Inspect),
// which the decode budget was taken for: a file libvips sizes otherwise
// is refused before any pixel is decoded. (libvips gives a GIF whose frame
// lies outside its 48x304 screen a canvas the frame's far corner wide and
// high: 31 bytes can ask for 2.4 GB.)
static int ca_thumbnail_buffer(void *buf, size_t len, int side, int loose, int width, int height, VipsImage **out) {
	const char *loader = vips_foreign_find_load_buffer(buf, len);
	// Only the header is read here: libvips decodes on demand.
	VipsImage *head = vips_image_new_from_buffer(buf, len, "", NULL);
	if (!head)
		return -1;
	if (head->Xsize != width || head->Ysize != height) {
		vips_error("captionai", "the image is %dx%d by its header, but %dx%d for libvips", width, height,
			head->Xsize, head->Ysize);
		g_object_unref(head);
		return -1;
	}
	if (loader && strcmp(loader, "VipsForeignLoadJpegBuffer") == 0) {
		VipsImage *scaled = NULL;
		int shrink = 1, long_side, ret;
		long_side = VIPS_MAX(head->Xsize, head->Ysize);
		// Not past the short side: libvips 8.14 aborts the process on a
		// scaled decode 0 px wide or high (a 16000x7 photo with a profile).
		while (shrink < 8 && (long_side + 2 * shrink - 1) / (2 * shrink) >= side &&
			VIPS_MIN(head->Xsize, head->Ysize) >= 2 * shrink)
			shrink *= 2;
		if (head->BandFmt == VIPS_FORMAT_UCHAR && !vips_image_get_typeof(head, VIPS_META_ICC_NAME) &&
			((head->Bands == 3 && head->Type == VIPS_INTERPRETATION_sRGB) ||
				(head->Bands == 1 && head->Type == VIPS_INTERPRETATION_B_W)) &&
			ca_jpeg_memory(buf, len, shrink, head->Bands, &scaled) == 0)
			vips_image_set_int(scaled, VIPS_META_ORIENTATION, vips_image_get_orientation(head));
		g_object_unref(head);
		if (!scaled && vips_jpegload_buffer(buf, len, &scaled, "shrink", shrink, "fail_on", VIPS_FAIL_ON_ERROR, NULL))
			return -1;
		if (loose && VIPS_MAX(scaled->Xsize, scaled->Ysize) <= 2 * side &&
			scaled->Type == VIPS_INTERPRETATION_sRGB && !vips_image_get_typeof(scaled, VIPS_META_ICC_NAME))
			ret = vips_autorot(scaled, out, NULL);
		else
			ret = vips_thumbnail_image(scaled, out, side, "height", side, "size", VIPS_SIZE_DOWN, NULL);
		g_object_unref(scaled);
		return ret;
	}
	g_object_unref(head);
	return vips_thumbnail_buffer(buf, len, out, side, "height", side, "size", VIPS_SIZE_DOWN,
		"option_string", "fail_on=error", NULL);
}

// vips_jpegload_buffer is variadic, which cgo cannot call.
static int ca_jpegload_buffer_head(void *buf, size_t len, VipsImage **out) { return vips_jpegload_buffer(buf, len, out, NULL); }
static int ca_jpegload_shrink(void *buf, size_t len, int shrink, VipsImage **out) {
	return vips_jpegload_buffer(buf, len, out, "shrink", shrink, "fail_on", VIPS_FAIL_ON_ERROR, NULL);
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
	"math"
	"strings"
	"unsafe"
)

// decoded is what one shrunk-on-load decode of an image file gives: the
// pixels the models look at, the display sizes, or both.
type decoded struct {
	// Pixels are the image upright, in 8-bit sRGB, at most the model side
	// long (the models resize them to 224 px).
	Pixels *image.NRGBA
	// Derivatives are the display sizes, smallest first.
	Derivatives []Derivative
}

// ModelSide is the long side of DecodeForModel's pixels: twice the models' 224 px
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

// SharedCost is what DecodeForModel and Derive hold in memory for file, for
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
	msg := strings.TrimSpace(C.GoString(C.vips_error_buffer()))
	C.vips_error_clear()
	return fmt.Errorf("%s: %s", what, msg)
}

// DecodeForModel decodes an image file of an accepted format for the
// models (the caption job's decode), with libvips shrinking on load as far
// as they allow: a 12 MP JPEG decodes at 1/8 through libjpeg-turbo's DCT
// scaling. It turns the pixels upright after the shrink. Their long side
// is at most ModelSide, or modelSide when that is larger, for images whose
// short side would otherwise fall under the models' 224 px (pass 0 for
// ModelSide); a JPEG's scaled decode stays as it is up to twice that,
// since the models resize it anyway. The display sizes need more pixels (a 1/2 decode for
// the 1600 px view) and come from their own decode, Derive, in a job of
// their own, so that the caption does not wait for them.
func DecodeForModel(file []byte, modelSide int) (*image.NRGBA, error) {
	d, err := decodeShared(file, false, true, modelSide)
	return d.Pixels, err
}

// decodeShared decodes file once, shrunk on load to what the largest of the
// wanted outputs needs, and makes the model's pixels and/or the display
// sizes from those pixels.
func decodeShared(file []byte, derive, pixels bool, modelSide int) (decoded, error) {
	startVips()
	// The header's size, which ca_thumbnail_buffer holds libvips to.
	info, err := Inspect(bytes.NewReader(file), math.MaxInt64)
	if err != nil {
		return decoded{}, err
	}
	if !derive && !pixels {
		return decoded{}, nil
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
	// Only the models' pixels: a JPEG may stay at up to twice modelSide.
	loose := C.int(0)
	if !derive {
		loose = 1
	}
	if C.ca_thumbnail_buffer(cfile, C.size_t(len(file)), C.int(first), loose, C.int(info.Width), C.int(info.Height), &thumb) != 0 {
		return decoded{}, fmt.Errorf("the image could not be decoded (%v); the file may be truncated or damaged", vipsError("libvips"))
	}
	defer C.ca_unref(thumb)
	// The one decode: everything below reads these pixels.
	if C.ca_copy_memory(thumb, &mem) != 0 {
		return decoded{}, fmt.Errorf("the image could not be decoded (%v); the file may be truncated or damaged", vipsError("libvips"))
	}
	defer C.ca_unref(mem)

	var out decoded
	if derive {
		for _, k := range DerivativeKinds {
			d, err := encodeSize(mem, k.Kind, k.MaxSide)
			if err != nil {
				return decoded{}, err
			}
			out.Derivatives = append(out.Derivatives, d)
		}
	}
	if !pixels {
		return out, nil
	}
	src := mem
	if limit := modelSide * (1 + int(loose)); int(mem.Xsize) > limit || int(mem.Ysize) > limit {
		var small *C.VipsImage
		if C.ca_thumbnail_image(mem, C.int(modelSide), &small) != 0 {
			return decoded{}, vipsError("resizing for the model")
		}
		defer C.ca_unref(small)
		src = small
	}
	var buf unsafe.Pointer
	var n C.size_t
	var w, h C.int
	if C.ca_nrgba(src, &buf, &n, &w, &h) != 0 {
		return decoded{}, vipsError("converting for the model")
	}
	defer C.g_free(C.gpointer(buf))
	if int(n) != 4*int(w)*int(h) {
		return decoded{}, errors.New("libvips gave pixels of an unexpected size")
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

// jpegLoads decodes a JPEG at 1/shrink (less past its short side) both
// ways, through ca_jpeg_memory (handled false when it handed the file
// back) and through libvips' own loader, for the tests that the two give
// the same pixels.
func jpegLoads(file []byte, shrink int) (fast, viaVips []byte, handled bool, err error) {
	startVips()
	cfile := C.CBytes(file)
	defer C.free(cfile)
	pixels := func(im *C.VipsImage) []byte {
		var n C.size_t
		buf := C.vips_image_write_to_memory(im, &n)
		defer C.g_free(C.gpointer(buf))
		return C.GoBytes(buf, C.int(n))
	}
	var head, a, b *C.VipsImage
	if C.ca_jpegload_buffer_head(cfile, C.size_t(len(file)), &head) != 0 {
		return nil, nil, false, vipsError("libvips")
	}
	defer C.ca_unref(head)
	for shrink > int(min(head.Xsize, head.Ysize)) {
		shrink /= 2 // as ca_thumbnail_buffer does
	}
	if C.ca_jpeg_memory(cfile, C.size_t(len(file)), C.int(shrink), head.Bands, &a) == 0 {
		defer C.ca_unref(a)
		fast, handled = pixels(a), true
	}
	if C.ca_jpegload_shrink(cfile, C.size_t(len(file)), C.int(shrink), &b) != 0 {
		return fast, nil, handled, vipsError("libvips")
	}
	defer C.ca_unref(b)
	return fast, pixels(b), handled, nil
}

// DecodeJPEGOnly decodes a JPEG at 1/shrink from memory through
// libjpeg-turbo alone, as the caption job's decode starts, and discards the
// pixels: no orientation, conversion or resize. `go tool task bench`
// reports it as the floor of a 12 MP photo's caption time.
func DecodeJPEGOnly(file []byte, shrink int) error {
	startVips()
	var im *C.VipsImage
	if C.ca_jpeg_memory(unsafe.Pointer(unsafe.SliceData(file)), C.size_t(len(file)), C.int(shrink), 3, &im) != 0 {
		return errors.New("not a plain colour JPEG libjpeg decodes without a warning")
	}
	C.ca_unref(im)
	return nil
}
