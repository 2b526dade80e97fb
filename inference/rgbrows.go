package inference

import (
	"image"
	"image/color"
)

// rgbRows returns a function that writes row y (from 0) of img into dst as
// interleaved 8-bit RGB (3 bytes per pixel of the row); alpha is dropped
// without compositing. Converting row by row lets the NSFW classifier read
// only the rows it samples, without a full-size copy.
func rgbRows(img image.Image) func(y int, dst []uint8) {
	b := img.Bounds()
	w := b.Dx()
	switch src := img.(type) {
	case *image.NRGBA:
		return func(y int, dst []uint8) {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				dst[3*x], dst[3*x+1], dst[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
	case *image.RGBA:
		return func(y int, dst []uint8) {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4]
				if p[3] == 0xff {
					dst[3*x], dst[3*x+1], dst[3*x+2] = p[0], p[1], p[2]
				} else {
					c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
					dst[3*x], dst[3*x+1], dst[3*x+2] = c.R, c.G, c.B
				}
			}
		}
	case *image.YCbCr:
		if f, ok := fancyRows(src); ok {
			return func(y int, dst []uint8) {
				cb, cr := f.row(y)
				yi := src.YOffset(b.Min.X, b.Min.Y+y)
				for x := 0; x < w; x++ {
					dst[3*x], dst[3*x+1], dst[3*x+2] = libjpegRGB(src.Y[yi+x], cb[x], cr[x])
				}
			}
		}
		return func(y int, dst []uint8) {
			for x := 0; x < w; x++ {
				yi, ci := src.YOffset(b.Min.X+x, b.Min.Y+y), src.COffset(b.Min.X+x, b.Min.Y+y)
				dst[3*x], dst[3*x+1], dst[3*x+2] = libjpegRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
			}
		}
	case *image.Gray:
		return func(y int, dst []uint8) {
			row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < w; x++ {
				dst[3*x], dst[3*x+1], dst[3*x+2] = row[x], row[x], row[x]
			}
		}
	}
	return func(y int, dst []uint8) {
		for x := 0; x < w; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			dst[3*x], dst[3*x+1], dst[3*x+2] = c.R, c.G, c.B
		}
	}
}
