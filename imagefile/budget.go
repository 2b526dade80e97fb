package imagefile

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/gif"
	"io"
	"math"
	"runtime"
	"sync"

	"golang.org/x/sync/semaphore"
)

// DefaultBudget is the decode memory a worker process allows at once. A
// 50 MP 16-bit PNG (about 550 MB by Estimate) takes all of it and runs alone;
// 12 MP phone photos (about 100 MB each) decode four or five at a time.
const DefaultBudget int64 = 512 << 20

// Budget limits the memory that decoding takes at once, shared by all the
// jobs of a process: the pixel limit alone lets a few 16-bit images at once
// take gigabytes. A nil *Budget limits nothing.
type Budget struct {
	sem  *semaphore.Weighted
	size int64
}

// NewBudget returns a budget of size bytes (DefaultBudget if size <= 0).
func NewBudget(size int64) *Budget {
	if size <= 0 {
		size = DefaultBudget
	}
	return &Budget{sem: semaphore.NewWeighted(size), size: size}
}

// Size is the whole budget in bytes.
func (b *Budget) Size() int64 { return b.size }

// Acquire waits until n bytes are free and holds them until release is
// called (more calls do nothing). A request larger than the whole budget
// waits for all of it, so such an image runs alone instead of never.
// Waiters are served in order, so a large request is not starved by small ones.
func (b *Budget) Acquire(ctx context.Context, n int64) (release func(), err error) {
	if b == nil {
		return func() {}, nil
	}
	n = min(max(n, 1), b.size)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return func() {}, err
	}
	return sync.OnceFunc(func() { b.sem.Release(n) }), nil
}

// Decode is the package Decode under the budget: it reads the estimate from
// the header, waits for that much, then decodes. The caller calls release
// once it holds no reference to img or anything made from its pixels;
// release is never nil and already done when err is not nil. 16-bit images
// come back as their 8-bit counterparts (see narrow).
func (b *Budget) Decode(ctx context.Context, r io.ReadSeeker) (img image.Image, release func(), err error) {
	n, err := Estimate(r)
	if err != nil {
		// A header we cannot read costs an unknown amount: take everything.
		// Decode then fails with its usual message.
		n = math.MaxInt64
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, func() {}, err
	}
	release, err = b.Acquire(ctx, n)
	if err != nil {
		return nil, release, err
	}
	if b != nil && n >= b.size/4 {
		// Collect the garbage of earlier decodes while little is live, so
		// that this one reuses their memory instead of growing the process:
		// left to itself the collector may wait until the heap doubles.
		runtime.GC()
	}
	img, err = Decode(r)
	if err != nil {
		release()
		return nil, release, err
	}
	return narrow(img), release, nil
}

// Bytes per pixel that inference's preprocessing (toRGB in
// inference/preprocess.go) adds on top of the decoded image: an 8-bit RGB
// copy. Resizing to the model's fixed input size then allocates only
// 3×width×(input height) or less.
const preprocessBPP = 3

// Estimate reads the header of an image and returns how many bytes decoding
// it with Decode and preprocessing it for the model allocate, counted as if
// nothing were freed in between: the garbage of one step is rarely
// collected before the next one allocates. It reads only up to the pixel
// data.
func Estimate(r io.Reader) (int64, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(12)
	ct, err := Sniff(head)
	if err != nil {
		return 0, err
	}
	var w, h int
	var bytes float64 // what the decoder allocates
	switch ct {
	case "image/png":
		w, h, bytes, err = pngCost(br)
	case "image/jpeg":
		w, h, bytes, err = jpegCost(br)
	case "image/gif":
		// image/gif's Decode (what image.Decode and imaging call) keeps only
		// the first frame, which lies inside the logical screen: 1 B/px.
		var cfg image.Config
		cfg, err = gif.DecodeConfig(br)
		w, h = cfg.Width, cfg.Height
		bytes = float64(w) * float64(h)
	case "image/webp":
		w, h, bytes, err = webpCost(br)
	}
	if err != nil {
		return 0, errors.New("the " + Formats[ct] + " header could not be read: " + err.Error())
	}
	if w < 0 || h < 0 {
		return 0, errors.New("the image has a negative size")
	}
	bytes += float64(w) * float64(h) * preprocessBPP
	if bytes >= math.MaxInt64 {
		return math.MaxInt64, nil
	}
	return int64(bytes), nil
}

// pngCost reads IHDR and the chunks before the first IDAT: image/png
// allocates by color type and depth, and a tRNS chunk turns gray and
// truecolor into NRGBA or NRGBA64. Interlaced images also allocate one
// image per pass, about one more image in all.
func pngCost(br *bufio.Reader) (w, h int, bytes float64, err error) {
	if _, err := br.Discard(8); err != nil {
		return 0, 0, 0, err
	}
	var ihdr [8 + 13 + 4]byte // length, type, fields, CRC
	if _, err := io.ReadFull(br, ihdr[:]); err != nil {
		return 0, 0, 0, err
	}
	if string(ihdr[4:8]) != "IHDR" || binary.BigEndian.Uint32(ihdr[:4]) != 13 {
		return 0, 0, 0, errors.New("no IHDR chunk")
	}
	f := ihdr[8:]
	w, h = int(binary.BigEndian.Uint32(f[0:4])), int(binary.BigEndian.Uint32(f[4:8]))
	depth, colorType, interlaced := f[8], f[9], f[12] != 0
	trns := false
	for {
		var c [8]byte
		if _, err := io.ReadFull(br, c[:]); err != nil {
			return 0, 0, 0, err
		}
		if string(c[4:]) == "IDAT" {
			break
		}
		trns = trns || string(c[4:]) == "tRNS"
		if _, err := io.CopyN(io.Discard, br, int64(binary.BigEndian.Uint32(c[:4]))+4); err != nil {
			return 0, 0, 0, err
		}
	}
	bpp := 8.0 // NRGBA64, RGBA64, and any type image/png would refuse
	switch {
	case colorType == 3: // paletted, whatever the depth
		bpp = 1
	case colorType == 0 && depth <= 8 && !trns: // Gray
		bpp = 1
	case colorType == 0 && depth == 16 && !trns: // Gray16
		bpp = 2
	case depth <= 8 && (colorType == 0 || colorType == 2 || colorType == 4 || colorType == 6): // RGBA or NRGBA
		bpp = 4
	}
	if interlaced {
		bpp *= 2
	}
	return w, h, float64(w) * float64(h) * bpp, nil
}

// jpegCost reads the markers up to the first scan. image/jpeg allocates
// one byte per sample padded to whole MCUs, four more per sample for a
// progressive image's coefficients, and an RGBA or CMYK copy for RGB and
// 4-component files. imaging's AutoOrientation makes an NRGBA copy when the
// EXIF orientation asks for a turn (4 B/px; this also covers inference's
// 2 B/px of upsampled chroma when it does not).
func jpegCost(br *bufio.Reader) (w, h int, bytes float64, err error) {
	if _, err := br.Discard(2); err != nil {
		return 0, 0, 0, err
	}
	var (
		sof         []byte
		progressive bool
		jfif        bool
		adobe       = -1 // APP14 transform, -1 when absent
	)
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, 0, 0, err
		}
		if c != 0xFF {
			continue // image/jpeg skips stray bytes too
		}
		marker, err := br.ReadByte()
		for err == nil && marker == 0xFF {
			marker, err = br.ReadByte()
		}
		if err != nil {
			return 0, 0, 0, err
		}
		if marker == 0 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01 {
			continue // stuffed byte, RSTn, TEM: no length
		}
		if marker == 0xD9 || marker == 0xDA { // EOI, SOS
			break
		}
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return 0, 0, 0, err
		}
		n := int(binary.BigEndian.Uint16(l[:])) - 2
		if n < 0 {
			return 0, 0, 0, errors.New("bad marker length")
		}
		if marker >= 0xC0 && marker <= 0xC2 && sof == nil {
			sof, progressive = make([]byte, n), marker == 0xC2
			if _, err := io.ReadFull(br, sof); err != nil {
				return 0, 0, 0, err
			}
			continue
		}
		seg, err := br.Peek(min(n, 12))
		if err != nil {
			return 0, 0, 0, err
		}
		switch {
		case marker == 0xE0 && len(seg) >= 5 && string(seg[:5]) == "JFIF\x00":
			jfif = true
		case marker == 0xEE && len(seg) >= 12 && string(seg[:5]) == "Adobe":
			adobe = int(seg[11])
		}
		if _, err := br.Discard(n); err != nil {
			return 0, 0, 0, err
		}
	}
	if len(sof) < 6 || len(sof) < 6+3*int(sof[5]) {
		return 0, 0, 0, errors.New("no frame header")
	}
	h, w = int(binary.BigEndian.Uint16(sof[1:3])), int(binary.BigEndian.Uint16(sof[3:5]))
	nComp := int(sof[5])
	if nComp != 1 && nComp != 3 && nComp != 4 { // as image/jpeg
		return 0, 0, 0, errors.New("unsupported number of components")
	}
	comps := sof[6:]
	// Sampling factors (1 to 4; image/jpeg refuses others). A gray image
	// is decoded as if they were 1.
	hv := func(i int) (int, int) {
		if nComp == 1 {
			return 1, 1
		}
		f := comps[3*i+1]
		return min(max(int(f>>4), 1), 4), min(max(int(f&15), 1), 4)
	}
	h0, v0 := hv(0)
	mcus := float64((w+8*h0-1)/(8*h0)) * float64((h+8*v0-1)/(8*v0))
	var samples float64
	for i := range nComp {
		hi, vi := hv(i)
		samples += 64 * mcus * float64(hi*vi)
	}
	bytes = samples
	if progressive {
		bytes += 4 * samples // a [64]int32 block per 64 samples
	}
	px := float64(w) * float64(h)
	isRGB := nComp == 3 && !jfif && (adobe == 0 || (comps[0] == 'R' && comps[3] == 'G' && comps[6] == 'B'))
	if nComp == 4 || isRGB {
		bytes += 4 * px
	}
	bytes += 4 * px // orientation
	return w, h, bytes, nil
}

// webpCost reads the RIFF chunks up to the image data. Lossy images decode
// to 4:2:0 YCbCr padded to 16-pixel macroblocks, plus an alpha plane that
// may itself be decoded through an NRGBA image; inference then upsamples the
// chroma (2 B/px). Lossless images decode to NRGBA and a color-indexing
// transform makes a second copy.
func webpCost(br *bufio.Reader) (w, h int, bytes float64, err error) {
	if _, err := br.Discard(12); err != nil {
		return 0, 0, 0, err
	}
	alpha, canvas := false, false
	for {
		var c [8]byte
		if _, err := io.ReadFull(br, c[:]); err != nil {
			return 0, 0, 0, err
		}
		n := int64(binary.LittleEndian.Uint32(c[4:]))
		var head [10]byte
		switch id := string(c[:4]); id {
		case "VP8X", "VP8 ", "VP8L":
			if _, err := io.ReadFull(br, head[:min(n, 10)]); err != nil {
				return 0, 0, 0, err
			}
			if id == "VP8X" {
				alpha, canvas = head[0]&0x10 != 0, true
				w = 1 + (int(head[4]) | int(head[5])<<8 | int(head[6])<<16)
				h = 1 + (int(head[7]) | int(head[8])<<8 | int(head[9])<<16)
				break
			}
			if id == "VP8 " {
				if !canvas {
					w = int(binary.LittleEndian.Uint16(head[6:8]) & 0x3fff)
					h = int(binary.LittleEndian.Uint16(head[8:10]) & 0x3fff)
				}
				px := float64(w) * float64(h)
				bytes = 1.5*256*float64((w+15)/16)*float64((h+15)/16) + 2*px
				if alpha {
					bytes += 5 * px
				}
				return w, h, bytes, nil
			}
			if !canvas {
				b := head[1:5]
				w = 1 + (int(b[0]) | int(b[1]&0x3f)<<8)
				h = 1 + (int(b[1])>>6 | int(b[2])<<2 | int(b[3]&0x0f)<<10)
			}
			return w, h, 8 * float64(w) * float64(h), nil
		}
		// Skip the rest of the chunk and its padding byte.
		skip := n + n&1
		if string(c[:4]) == "VP8X" {
			skip -= min(n, 10)
		}
		if _, err := io.CopyN(io.Discard, br, skip); err != nil {
			return 0, 0, 0, err
		}
	}
}

// narrow turns the 16-bit images image/png returns (NRGBA64, RGBA64,
// Gray16) into NRGBA or Gray in place, with the arithmetic of
// color.NRGBAModel, so that inference's preprocessing takes its fast paths
// instead of converting each pixel through color.Color (about 10 s of CPU
// for 49 MP) and gets the same 8-bit values. It allocates nothing: each row
// is written over the front of the 16-bit pixels. img must be freshly
// decoded; its pixels are overwritten.
func narrow(img image.Image) image.Image {
	switch m := img.(type) {
	case *image.NRGBA64:
		return narrowRGBA(m.Pix, m.Stride, m.Rect, false)
	case *image.RGBA64:
		return narrowRGBA(m.Pix, m.Stride, m.Rect, true)
	case *image.Gray16:
		w, h := m.Rect.Dx(), m.Rect.Dy()
		for y := range h {
			src := m.Pix[y*m.Stride:]
			for x := range w {
				m.Pix[y*w+x] = src[2*x] // the high byte, as color.GrayModel
			}
		}
		return &image.Gray{Pix: m.Pix[:w*h], Stride: w, Rect: m.Rect}
	}
	return img
}

func narrowRGBA(pix []uint8, stride int, rect image.Rectangle, premultiplied bool) *image.NRGBA {
	w, h := rect.Dx(), rect.Dy()
	for y := range h {
		for x := range w {
			s := pix[y*stride+8*x : y*stride+8*x+8]
			r := uint32(s[0])<<8 | uint32(s[1])
			g := uint32(s[2])<<8 | uint32(s[3])
			b := uint32(s[4])<<8 | uint32(s[5])
			a := uint32(s[6])<<8 | uint32(s[7])
			if !premultiplied { // color.NRGBA64.RGBA
				r, g, b = r*a/0xffff, g*a/0xffff, b*a/0xffff
			}
			switch a { // color.NRGBAModel
			case 0xffff:
			case 0:
				r, g, b = 0, 0, 0
			default:
				r, g, b = r*0xffff/a, g*0xffff/a, b*0xffff/a
			}
			// All eight source bytes are read; the four written lie at or
			// before them.
			d := pix[4*(y*w+x):]
			d[0], d[1], d[2], d[3] = uint8(r>>8), uint8(g>>8), uint8(b>>8), uint8(a>>8)
		}
	}
	return &image.NRGBA{Pix: pix[:4*w*h], Stride: 4 * w, Rect: rect}
}
