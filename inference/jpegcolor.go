package inference

import "image"

// Go's image/jpeg hands back subsampled chroma, and image/color converts
// YCbCr with its own rounding. The training pipeline and transformers.js read
// JPEGs through libjpeg(-turbo), which smooths chroma ("fancy upsampling",
// jdsample.c) and converts with the fixed-point tables of jdcolor.c. Doing the
// same here brings our pixels to within the two decoders' IDCT differences of
// theirs, and the model sees what it was trained on.

// libjpegRGB is jdcolor.c's ycc_rgb_convert: 16-bit fixed point, rounded with
// ONE_HALF, clamped.
func libjpegRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	const half = 1 << 15
	x, z := int32(cb)-128, int32(cr)-128
	r := int32(y) + (91881*z+half)>>16
	g := int32(y) + (-22554*x-46802*z+half)>>16
	b := int32(y) + (116130*x+half)>>16
	return clamp8(r), clamp8(g), clamp8(b)
}

func clamp8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// fancyRows upsamples 4:2:0 and 4:2:2 chroma the way libjpeg-turbo's
// h2v2_fancy_upsample and h2v1_fancy_upsample do (triangle filter; edge rows
// and columns repeated), one image row at a time. Other layouts, and chroma
// planes libjpeg would not smooth (2 columns or fewer), report ok = false.
func fancyRows(src *image.YCbCr) (f *fancyUpsampler, ok bool) {
	b := src.Rect
	w, h := b.Dx(), b.Dy()
	f = &fancyUpsampler{src: src, cw: (w + 1) / 2}
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio420:
		f.ch = (h + 1) / 2
	case image.YCbCrSubsampleRatio422:
		f.ch = h
	default:
		return nil, false
	}
	if f.cw <= 2 || b.Min.X%2 != 0 || (src.SubsampleRatio == image.YCbCrSubsampleRatio420 && b.Min.Y%2 != 0) {
		return nil, false
	}
	f.c0 = src.COffset(b.Min.X, b.Min.Y)
	f.cb, f.cr = make([]uint8, 2*f.cw), make([]uint8, 2*f.cw)
	f.sums = make([]int32, f.cw)
	return f, true
}

// fancyUpsampler is fancyRows' state: one row of each chroma plane.
type fancyUpsampler struct {
	src        *image.YCbCr
	cw, ch, c0 int
	cb, cr     []uint8
	sums       []int32
}

// row returns the upsampled Cb and Cr of image row y (from 0), valid until
// the next call; they may be longer than the image is wide.
func (f *fancyUpsampler) row(y int) (cb, cr []uint8) {
	f.up(f.cb, f.src.Cb, y)
	f.up(f.cr, f.src.Cr, y)
	return f.cb, f.cr
}

func (f *fancyUpsampler) up(line, plane []uint8, y int) {
	row := func(r int) []uint8 {
		r = min(max(r, 0), f.ch-1)
		return plane[f.c0+r*f.src.CStride : f.c0+r*f.src.CStride+f.cw]
	}
	if f.src.SubsampleRatio == image.YCbCrSubsampleRatio422 {
		h2v1(line, row(y))
		return
	}
	// Output row y sits in chroma row y/2; its nearer neighbour is the row
	// above for even y, below for odd y.
	near, far := row(y/2), row(y/2-1)
	if y%2 == 1 {
		far = row(y/2 + 1)
	}
	for c := range f.sums {
		f.sums[c] = 3*int32(near[c]) + int32(far[c])
	}
	h2v2(line, f.sums)
}

// h2v1 is jdsample.c's h2v1_fancy_upsample for one row (len(in) > 2).
func h2v1(out, in []uint8) {
	n := len(in)
	out[0] = in[0]
	out[1] = uint8((3*int32(in[0]) + int32(in[1]) + 2) >> 2)
	for c := 1; c < n-1; c++ {
		v := 3 * int32(in[c])
		out[2*c] = uint8((v + int32(in[c-1]) + 1) >> 2)
		out[2*c+1] = uint8((v + int32(in[c+1]) + 2) >> 2)
	}
	out[2*n-2] = uint8((3*int32(in[n-1]) + int32(in[n-2]) + 1) >> 2)
	out[2*n-1] = in[n-1]
}

// h2v2 is jdsample.c's h2v2_fancy_upsample for one output row, given the
// vertical sums 3*near + far of each chroma column (len(sums) > 2).
func h2v2(out []uint8, sums []int32) {
	n := len(sums)
	out[0] = uint8((sums[0]*4 + 8) >> 4)
	out[1] = uint8((sums[0]*3 + sums[1] + 7) >> 4)
	for c := 1; c < n-1; c++ {
		out[2*c] = uint8((sums[c]*3 + sums[c-1] + 8) >> 4)
		out[2*c+1] = uint8((sums[c]*3 + sums[c+1] + 7) >> 4)
	}
	out[2*n-2] = uint8((sums[n-1]*3 + sums[n-2] + 8) >> 4)
	out[2*n-1] = uint8((sums[n-1]*4 + 7) >> 4)
}
