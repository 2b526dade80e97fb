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

// fancyChroma upsamples 4:2:0 and 4:2:2 chroma to full size the way
// libjpeg-turbo's h2v2_fancy_upsample and h2v1_fancy_upsample do (triangle
// filter; edge rows and columns repeated). Other layouts, and chroma planes
// libjpeg would not smooth (2 columns or fewer), report ok = false.
func fancyChroma(src *image.YCbCr) (cb, cr []uint8, ok bool) {
	b := src.Rect
	w, h := b.Dx(), b.Dy()
	cw := (w + 1) / 2
	var ch int
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio420:
		ch = (h + 1) / 2
	case image.YCbCrSubsampleRatio422:
		ch = h
	default:
		return nil, nil, false
	}
	if cw <= 2 || b.Min.X%2 != 0 || (src.SubsampleRatio == image.YCbCrSubsampleRatio420 && b.Min.Y%2 != 0) {
		return nil, nil, false
	}
	c0 := src.COffset(b.Min.X, b.Min.Y)
	row := func(plane []uint8, r int) []uint8 {
		r = min(max(r, 0), ch-1)
		return plane[c0+r*src.CStride : c0+r*src.CStride+cw]
	}
	up := func(plane []uint8) []uint8 {
		out := make([]uint8, w*h)
		line := make([]uint8, 2*cw)
		sums := make([]int32, cw)
		for y := 0; y < h; y++ {
			if src.SubsampleRatio == image.YCbCrSubsampleRatio422 {
				h2v1(line, row(plane, y))
			} else {
				// Output row y sits in chroma row y/2; its nearer neighbour
				// is the row above for even y, below for odd y.
				near, far := row(plane, y/2), row(plane, y/2-1)
				if y%2 == 1 {
					far = row(plane, y/2+1)
				}
				for c := range sums {
					sums[c] = 3*int32(near[c]) + int32(far[c])
				}
				h2v2(line, sums)
			}
			copy(out[y*w:(y+1)*w], line[:w])
		}
		return out
	}
	return up(src.Cb), up(src.Cr), true
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
