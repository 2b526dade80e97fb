package imagefile

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/image/webp"
)

// gradient is a w×h picture with enough detail that its JPEG scan holds
// stuffed 0xFF bytes.
func gradient(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x*37 + y*91) % 256), 255})
		}
	}
	return m
}

func plainJPEG(t testing.TB) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, gradient(40, 24), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func plainPNG(t testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, gradient(40, 24)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// plainGIF has two frames, so Go writes a NETSCAPE2.0 looping extension.
func plainGIF(t testing.TB) []byte {
	g := &gif.GIF{LoopCount: 0}
	for i := range 2 {
		m := image.NewPaletted(image.Rect(0, 0, 40, 24), palette.Plan9)
		for y := range 24 {
			for x := range 40 {
				m.SetColorIndex(x, y, uint8(x+y+i*50))
			}
		}
		g.Image = append(g.Image, m)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// vp8lBits packs bits least significant first, as VP8L reads them.
type vp8lBits struct {
	buf []byte
	n   uint
}

func (b *vp8lBits) write(v uint32, bits int) {
	for i := range bits {
		if b.n%8 == 0 {
			b.buf = append(b.buf, 0)
		}
		b.buf[len(b.buf)-1] |= byte(v>>i&1) << (b.n % 8)
		b.n++
	}
}

// vp8l is a lossless WebP bitstream of a w×h picture in two colours,
// 0xff2040c0 where light(x, y) and 0xff204080 elsewhere: no transforms, and
// "simple" prefix codes, so one bit per pixel (the green value).
func vp8l(w, h int, light func(x, y int) bool) []byte {
	var b vp8lBits
	b.write(0x2f, 8) // signature
	b.write(uint32(w-1), 14)
	b.write(uint32(h-1), 14)
	b.write(0, 1) // alpha_is_used
	b.write(0, 3) // version
	b.write(0, 1) // no transform
	b.write(0, 1) // no colour cache
	b.write(0, 1) // no meta prefix codes
	// Green: a simple code with two 8-bit symbols, one bit each.
	b.write(1, 1)
	b.write(1, 1) // two symbols
	b.write(1, 1) // the first has 8 bits
	b.write(0x40, 8)
	b.write(0xC0, 8)
	// Red, blue, alpha: one 8-bit symbol each, no bits per pixel.
	for _, v := range []uint32{0x20, 0x80, 0xFF} {
		b.write(1, 1)
		b.write(0, 1)
		b.write(1, 1)
		b.write(v, 8)
	}
	// Distance: one 1-bit symbol, never used.
	b.write(1, 1)
	b.write(0, 1)
	b.write(0, 1)
	b.write(0, 1)
	for y := range h {
		for x := range w {
			if light(x, y) {
				b.write(1, 1)
			} else {
				b.write(0, 1)
			}
		}
	}
	return b.buf
}

func checkered(x, y int) bool { return (x/3+y/2)%2 == 0 }

// webpChunk is a RIFF chunk, padded to an even size.
func webpChunk(id string, data []byte) []byte {
	b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func webpFile(chunks ...[]byte) []byte {
	body := bytes.Join(chunks, nil)
	b := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(body)))...)
	return append(append(b, "WEBP"...), body...)
}

// webpVP8X is a VP8X chunk for a w×h canvas.
func webpVP8X(flags byte, w, h int) []byte {
	d := []byte{flags, 0, 0, 0}
	d = binary.LittleEndian.AppendUint32(d, uint32(w-1))[:7]
	d = binary.LittleEndian.AppendUint32(d, uint32(h-1))[:10]
	return webpChunk("VP8X", d)
}

// plainWebP is a simple (VP8L only) 9×5 lossless WebP file.
func plainWebP(t testing.TB) []byte {
	b := webpFile(webpChunk("VP8L", vp8l(9, 5, checkered)))
	m, err := webp.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the test WebP does not decode: %v", err)
	}
	if m.Bounds().Dx() != 9 || m.Bounds().Dy() != 5 {
		t.Fatalf("the test WebP is %v", m.Bounds())
	}
	for y := range 5 {
		for x := range 9 {
			want := color.NRGBA{0x20, 0x40, 0x80, 0xFF}
			if checkered(x, y) {
				want.G = 0xC0
			}
			if got := color.NRGBAModel.Convert(m.At(x, y)); got != want {
				t.Fatalf("the test WebP has %v at %d,%d, want %v", got, x, y, want)
			}
		}
	}
	return b
}

func mkPNGChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(append(b, typ...), data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// splitPNG splits a PNG file after its signature into whole chunks.
func splitPNG(t testing.TB, b []byte) (types []string, chunks [][]byte) {
	t.Helper()
	b = b[8:]
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("%d stray bytes at the end", len(b))
		}
		n := int(binary.BigEndian.Uint32(b))
		types = append(types, string(b[4:8]))
		chunks = append(chunks, b[:12+n])
		b = b[12+n:]
	}
	return types, chunks
}

func mkJPEGSegment(marker byte, payload []byte) []byte {
	n := len(payload) + 2
	return append([]byte{0xFF, marker, byte(n >> 8), byte(n)}, payload...)
}

// cameraEXIF is a little-endian TIFF block with IFD0 holding Orientation
// (unless it is 0), Make and a GPS IFD pointer, and a GPS IFD, like a
// camera writes.
func cameraEXIF(orientation uint16) []byte {
	le := binary.LittleEndian
	var entries [][]byte
	entry := func(tag, typ uint16, count, value uint32) []byte {
		e := le.AppendUint16(nil, tag)
		e = le.AppendUint16(e, typ)
		e = le.AppendUint32(e, count)
		return le.AppendUint32(e, value)
	}
	// IFD0 at 8; its entries, then the GPS IFD, then the strings.
	n := 2
	if orientation != 0 {
		n++
	}
	gpsAt := 8 + 2 + 12*n + 4
	makeAt := gpsAt + 2 + 12*1 + 4
	entries = append(entries, entry(0x010F, 2, 8, uint32(makeAt))) // Make
	if orientation != 0 {
		entries = append(entries, entry(0x0112, 3, 1, uint32(orientation)))
	}
	entries = append(entries, entry(0x8825, 4, 1, uint32(gpsAt))) // GPS IFD
	b := []byte("II*\x00\x08\x00\x00\x00")
	b = le.AppendUint16(b, uint16(n))
	b = append(b, bytes.Join(entries, nil)...)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint16(b, 1)
	b = append(b, entry(0x0001, 2, 2, 'N')...) // GPSLatitudeRef
	b = le.AppendUint32(b, 0)
	return append(b, "PhoneCo\x00"...)
}

// tinyICC is a small ICC profile, valid enough for exiftool: a header and
// one copyright tag.
func tinyICC() []byte {
	text := append([]byte("text\x00\x00\x00\x00"), "captionai test profile\x00"...)
	size := 128 + 4 + 12 + len(text)
	b := binary.BigEndian.AppendUint32(nil, uint32(size))
	b = append(b, "none"...)
	b = binary.BigEndian.AppendUint32(b, 0x02100000)
	b = append(b, "mntrRGB XYZ "...)
	b = append(b, make([]byte, 12)...) // date
	b = append(b, "acsp"...)
	b = append(b, make([]byte, 68-40)...)
	b = binary.BigEndian.AppendUint32(b, 0x0000F6D6) // D50
	b = binary.BigEndian.AppendUint32(b, 0x00010000)
	b = binary.BigEndian.AppendUint32(b, 0x0000D32D)
	b = append(b, make([]byte, 128-80)...)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, "cprt"...)
	b = binary.BigEndian.AppendUint32(b, 144)
	b = binary.BigEndian.AppendUint32(b, uint32(len(text)))
	return append(b, text...)
}

func mustStrip(t testing.TB, b []byte, ct string) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := Strip(&out, bytes.NewReader(b), ct); err != nil {
		t.Fatalf("Strip: %v", err)
	}
	return out.Bytes()
}

// sameDecoded fails unless a and b decode to the same picture.
func sameDecoded(t *testing.T, a, b []byte) {
	t.Helper()
	ma, _, err := image.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatalf("decoding the input: %v", err)
	}
	mb, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decoding the output: %v", err)
	}
	if ma.Bounds() != mb.Bounds() {
		t.Fatalf("the output is %v, the input %v", mb.Bounds(), ma.Bounds())
	}
	r := ma.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if ca, cb := ma.At(x, y), mb.At(x, y); ca != cb {
				t.Fatalf("pixel %d,%d is %v, was %v", x, y, cb, ca)
			}
		}
	}
}

func needExiftool(t *testing.T) string {
	path, err := exec.LookPath("exiftool")
	if err != nil {
		t.Fatal("exiftool is missing: run `go tool task test-tools` (it installs Debian's libimage-exiftool-perl)")
	}
	return path
}

func runExiftool(t *testing.T, exiftool string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(exiftool, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("exiftool %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// exiftoolTags returns what exiftool reads from a file, named GROUP:Tag, with
// numeric values.
func exiftoolTags(t *testing.T, exiftool, path string) map[string]any {
	t.Helper()
	var all []map[string]any
	if err := json.Unmarshal(runExiftool(t, exiftool, "-j", "-G", "-n", "-a", path), &all); err != nil || len(all) != 1 {
		t.Fatalf("exiftool -j: %v", err)
	}
	return all[0]
}

// TestStripExiftool puts GPS, camera, author, XMP, IPTC and an ICC profile
// into small files with exiftool, strips them, and asks exiftool what is
// left: the orientation and the profile only.
func TestStripExiftool(t *testing.T) {
	exiftool := needExiftool(t)
	dir := t.TempDir()
	icc := tinyICC()
	iccPath := filepath.Join(dir, "test.icc")
	if err := os.WriteFile(iccPath, icc, 0o644); err != nil {
		t.Fatal(err)
	}
	meta := []string{"-GPSLatitude=48.8584", "-GPSLatitudeRef=N", "-GPSLongitude=2.2945", "-GPSLongitudeRef=E",
		"-Artist=Someone", "-Model=PhoneCam", "-Orientation#=6", "-XMP:Creator=Someone", "-icc_profile<=" + iccPath}
	for _, c := range []struct {
		name, ct string
		data     []byte
		extra    []string
		want     []string // tags that must be there before
	}{
		{"jpeg", "image/jpeg", plainJPEG(t), []string{"-IPTC:Keywords=secret", "-Comment=secret"},
			[]string{"EXIF:GPSLatitude", "EXIF:Artist", "EXIF:Model", "XMP:Creator", "IPTC:Keywords", "File:Comment"}},
		{"png", "image/png", plainPNG(t), nil,
			[]string{"EXIF:GPSLatitude", "EXIF:Artist", "EXIF:Model", "PNG:Artist", "PNG:Model", "XMP:Creator"}},
		{"webp", "image/webp", plainWebP(t), nil,
			[]string{"EXIF:GPSLatitude", "EXIF:Artist", "EXIF:Model", "XMP:Creator"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := filepath.Join(dir, c.name+"-in")
			if err := os.WriteFile(in, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			runExiftool(t, exiftool, append(append([]string{"-q", "-overwrite_original"}, meta...), append(c.extra, in)...)...)
			before := exiftoolTags(t, exiftool, in)
			for _, k := range append(c.want, "EXIF:Orientation", "ICC_Profile:ProfileCopyright") {
				if before[k] == nil {
					t.Fatalf("exiftool did not write %s: %v", k, before)
				}
			}
			if before["EXIF:Orientation"] != 6.0 {
				t.Fatalf("Orientation before: %v", before["EXIF:Orientation"])
			}
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			if o, err := Orientation(bytes.NewReader(data), c.ct); o != 6 || err != nil {
				t.Errorf("Orientation of the input: %d, %v", o, err)
			}

			stripped := mustStrip(t, data, c.ct)
			outPath := filepath.Join(dir, c.name+"-out")
			if err := os.WriteFile(outPath, stripped, 0o644); err != nil {
				t.Fatal(err)
			}
			after := exiftoolTags(t, exiftool, outPath)
			for k, v := range after {
				group, name, _ := strings.Cut(k, ":")
				switch {
				case strings.Contains(name, "GPS"), name == "Artist", name == "Model", name == "Comment", name == "Keywords",
					group == "XMP", group == "IPTC", group == "Photoshop",
					group == "EXIF" && name != "Orientation",
					name == "Warning", name == "Error":
					t.Errorf("after Strip, exiftool still reads %s: %v", k, v)
				}
			}
			if after["EXIF:Orientation"] != 6.0 {
				t.Errorf("Orientation after: %v", after["EXIF:Orientation"])
			}
			if got := runExiftool(t, exiftool, "-b", "-icc_profile", outPath); !bytes.Equal(got, icc) {
				t.Errorf("the ICC profile after Strip is %q, want %q", got, icc)
			}
			if o, err := Orientation(bytes.NewReader(stripped), c.ct); o != 6 || err != nil {
				t.Errorf("Orientation of the output: %d, %v", o, err)
			}
			sameDecoded(t, data, stripped)
			if again := mustStrip(t, stripped, c.ct); !bytes.Equal(again, stripped) {
				t.Error("stripping twice changes the file")
			}
		})
	}

	t.Run("gif", func(t *testing.T) {
		in := filepath.Join(dir, "gif-in")
		orig := plainGIF(t)
		if err := os.WriteFile(in, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		runExiftool(t, exiftool, "-q", "-overwrite_original", "-XMP:Creator=Someone", "-Comment=secret", in)
		before := exiftoolTags(t, exiftool, in)
		if before["XMP:Creator"] == nil || before["File:Comment"] == nil {
			t.Fatalf("exiftool did not write XMP and a comment: %v", before)
		}
		data, _ := os.ReadFile(in)
		stripped := mustStrip(t, data, "image/gif")
		if !bytes.Equal(stripped, orig) {
			t.Errorf("the stripped GIF is not the GIF before exiftool")
		}
		outPath := filepath.Join(dir, "gif-out")
		if err := os.WriteFile(outPath, stripped, 0o644); err != nil {
			t.Fatal(err)
		}
		after := exiftoolTags(t, exiftool, outPath)
		if after["XMP:Creator"] != nil || after["File:Comment"] != nil || after["GIF:AnimationIterations"] != 0.0 {
			t.Errorf("after Strip: %v", after)
		}
	})
}

// The cases below are built by hand, each as an input with metadata and
// the exact bytes Strip must make of it. FuzzStrip starts from them too.

// jpegCase has JFIF with a thumbnail, XMP before the Exif segment (where
// a decoder that reads the first APP1 only misses the orientation), a
// second Exif, extended XMP, a two-chunk ICC profile with MPF and IPTC
// between its chunks, Adobe, a comment, JUMBF, and data after the end.
func jpegCase(t testing.TB) (in, want []byte) {
	base := plainJPEG(t) // SOI, DQT, SOF0, DHT, SOS, data, EOI
	icc := tinyICC()
	iccSeg := func(i int, part []byte) []byte {
		return mkJPEGSegment(0xE2, append([]byte{'I', 'C', 'C', '_', 'P', 'R', 'O', 'F', 'I', 'L', 'E', 0, byte(i), 2}, part...))
	}
	jfif := "JFIF\x00\x01\x02\x01\x00\x48\x00\x48"
	adobe := mkJPEGSegment(0xEE, []byte("Adobe\x00\x64\x00\x00\x00\x00\x01")) // transform 1: YCbCr
	in = bytes.Join([][]byte{
		base[:2],
		mkJPEGSegment(0xE0, []byte(jfif+"\x01\x01\xff\x00\x00")), // a 1×1 thumbnail
		mkJPEGSegment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>Someone</x:xmpmeta>")),
		mkJPEGSegment(0xE1, append([]byte("Exif\x00\x00"), cameraEXIF(8)...)),
		mkJPEGSegment(0xE1, append([]byte("Exif\x00\x00"), cameraEXIF(3)...)),
		mkJPEGSegment(0xE1, []byte("http://ns.adobe.com/xmp/extension/\x000123456789ABCDEF0123456789ABCDEF<rdf/>")),
		iccSeg(1, icc[:100]),
		mkJPEGSegment(0xE2, []byte("MPF\x00II*\x00\x08\x00\x00\x00")),
		mkJPEGSegment(0xED, []byte("Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x0a\x1c\x02\x19\x00\x06secret")),
		iccSeg(2, icc[100:]),
		adobe,
		mkJPEGSegment(0xFE, []byte("a comment")),
		mkJPEGSegment(0xEB, []byte("JP\x00\x00\x00\x00\x00\x01c2pa")),
		base[2:],
		[]byte("\xff\xd8 a second image, or the video of a motion photo"),
	}, nil)
	want = bytes.Join([][]byte{
		base[:2],
		mkJPEGSegment(0xE0, []byte(jfif+"\x00\x00")),
		mkJPEGSegment(0xE1, append([]byte("Exif\x00\x00"), minimalEXIF(8)...)),
		iccSeg(1, icc[:100]),
		iccSeg(2, icc[100:]),
		adobe,
		base[2:],
	}, nil)
	return in, want
}

// jpegScanCase is not a picture: it checks the byte rules of scans. Stuffed
// bytes and restart markers stay, fill bytes go, and so do APPn and COM
// between scans (an Exif there is not read by decoders).
func jpegScanCase() (in, want []byte) {
	soi := []byte{0xFF, 0xD8}
	sof := mkJPEGSegment(0xC2, []byte{8, 0, 1, 0, 1, 1, 1, 0x11, 0})
	sos := mkJPEGSegment(0xDA, []byte{1, 1, 0, 0, 0x3F, 0})
	scan := []byte{0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xFF, 0xD1, 0x78}
	in = bytes.Join([][]byte{
		soi, {0x00, 0x01}, sof, // stray bytes before a marker
		sos, scan, {0xFF, 0xFF},
		mkJPEGSegment(0xE1, append([]byte("Exif\x00\x00"), cameraEXIF(6)...)),
		mkJPEGSegment(0xFE, []byte("between scans")),
		sos, scan, {0xFF, 0xD9},
	}, nil)
	scanOut := []byte{0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD1, 0x78}
	want = bytes.Join([][]byte{soi, sof, sos, scanOut, sos, scanOut, {0xFF, 0xD9}}, nil)
	return in, want
}

func zlibbed(t testing.TB, b []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// pngCase has every kind of text chunk, a time, EXIF, a private chunk, a
// text after the image data and bytes after IEND, and the colour chunks
// that must stay.
func pngCase(t testing.TB) (in, want []byte) {
	base := plainPNG(t)
	_, chunks := splitPNG(t, base) // IHDR, IDAT..., IEND
	ihdr, idat, iend := chunks[0], bytes.Join(chunks[1:len(chunks)-1], nil), chunks[len(chunks)-1]
	iccp := mkPNGChunk("iCCP", append([]byte("icc\x00\x00"), zlibbed(t, tinyICC())...))
	gama := mkPNGChunk("gAMA", []byte{0, 0, 0xB1, 0x8F})
	chrm := mkPNGChunk("cHRM", make([]byte, 32))
	phys := mkPNGChunk("pHYs", []byte{0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1})
	in = bytes.Join([][]byte{
		base[:8], ihdr,
		mkPNGChunk("tIME", []byte{0x07, 0xE8, 6, 1, 12, 0, 0}),
		mkPNGChunk("tEXt", []byte("Author\x00Someone")),
		mkPNGChunk("zTXt", append([]byte("Comment\x00\x00"), zlibbed(t, []byte("secret"))...)),
		mkPNGChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta>Someone</x:xmpmeta>")),
		iccp, gama, chrm, phys,
		mkPNGChunk("eXIf", cameraEXIF(6)),
		mkPNGChunk("eXIf", cameraEXIF(3)), // a second one is not read
		mkPNGChunk("prVW", []byte("a private preview")),
		idat,
		mkPNGChunk("tEXt", []byte("Comment\x00after the pixels")),
		iend,
		[]byte("after the end"),
	}, nil)
	want = bytes.Join([][]byte{base[:8], ihdr, iccp, gama, chrm, phys, mkPNGChunk("eXIf", minimalEXIF(6)), idat, iend}, nil)
	return in, want
}

// webpCase is an extended WebP with ICC, EXIF, XMP and an unknown chunk.
func webpCase(t testing.TB) (in, want []byte) {
	img := webpChunk("VP8L", vp8l(9, 5, checkered))
	iccp := webpChunk("ICCP", tinyICC())
	in = webpFile(webpVP8X(webpICC|webpEXIF|webpXMP, 9, 5), iccp, img,
		webpChunk("EXIF", cameraEXIF(6)),
		webpChunk("XMP ", []byte("<x:xmpmeta>Someone</x:xmpmeta>")),
		webpChunk("C2PA", []byte("manifest")))
	want = webpFile(webpVP8X(webpICC|webpEXIF, 9, 5), iccp, img, webpChunk("EXIF", minimalEXIF(6)))
	return in, want
}

// gifSubBlocks splits data into GIF sub-blocks, with the terminator.
func gifSubBlocks(data []byte) []byte {
	var b []byte
	for len(data) > 0 {
		n := min(len(data), 255)
		b = append(append(b, byte(n)), data[:n]...)
		data = data[n:]
	}
	return append(b, 0)
}

// gifCase has a comment, XMP (raw, with its "magic trailer", as
// Adobe writes it), an ICC profile, an empty and an unknown extension
// before the frames, and a comment before the trailer.
func gifCase(t testing.TB) (in, want []byte) {
	base := plainGIF(t)
	head := 13
	if base[10]&0x80 != 0 {
		head += 3 << (base[10]&7 + 1)
	}
	trailer := make([]byte, 0, 258)
	trailer = append(trailer, 1)
	for i := 255; i >= 0; i-- {
		trailer = append(trailer, byte(i))
	}
	trailer = append(trailer, 0)
	xmp := append([]byte("\x21\xffXMP DataXMP<x:xmpmeta>Someone, who lives at 1 Rue de Rivoli</x:xmpmeta>"), trailer...)
	xmp[2] = 11
	comment := append([]byte{0x21, 0xFE}, gifSubBlocks([]byte("a secret comment"))...)
	icc := append([]byte("\x21\xff\x0bICCRGBG1012"), gifSubBlocks(tinyICC())...)
	in = bytes.Join([][]byte{
		base[:head], comment, xmp, icc,
		{0x21, 0xFF, 0x00},           // an empty application extension
		{0x21, 0x99, 2, 'h', 'i', 0}, // an unknown one
		base[head : len(base)-1], comment, base[len(base)-1:],
	}, nil)
	want = bytes.Join([][]byte{base[:head], icc, base[head:]}, nil)
	return in, want
}

func TestStripJPEGSegments(t *testing.T) {
	in, want := jpegCase(t)
	got := mustStrip(t, in, "image/jpeg")
	if !bytes.Equal(got, want) {
		t.Fatalf("Strip gave\n%q\nwant\n%q", got, want)
	}
	sameDecoded(t, plainJPEG(t), got)
	if o, err := Orientation(bytes.NewReader(in), "image/jpeg"); o != 8 || err != nil {
		t.Errorf("Orientation: %d, %v", o, err)
	}
	// Our decoder turns it upright, which it could not do before: it
	// reads the first APP1 only, and that was XMP.
	m, err := Decode(bytes.NewReader(got))
	if err != nil || m.Bounds().Dx() != 24 || m.Bounds().Dy() != 40 {
		t.Errorf("Decode: %v, %v", m.Bounds(), err)
	}

	in, want = jpegScanCase()
	if got := mustStrip(t, in, "image/jpeg"); !bytes.Equal(got, want) {
		t.Errorf("scans: Strip gave\n% x\nwant\n% x", got, want)
	}
	if o, err := Orientation(bytes.NewReader(in), "image/jpeg"); o != 1 || err != nil {
		t.Errorf("Orientation from an Exif after the scan: %d, %v", o, err)
	}
}

func TestStripPNGChunks(t *testing.T) {
	in, want := pngCase(t)
	got := mustStrip(t, in, "image/png")
	if !bytes.Equal(got, want) {
		gt, _ := splitPNG(t, got)
		wt, _ := splitPNG(t, want)
		t.Fatalf("Strip gave chunks %v, want %v (or their bytes differ)", gt, wt)
	}
	sameDecoded(t, plainPNG(t), got) // png.Decode checks every CRC
	if o, err := Orientation(bytes.NewReader(in), "image/png"); o != 6 || err != nil {
		t.Errorf("Orientation: %d, %v", o, err)
	}

	// An orientation of 1 needs no EXIF at all.
	base := plainPNG(t)
	withExif := bytes.Join([][]byte{base[:33], mkPNGChunk("eXIf", cameraEXIF(1)), base[33:]}, nil)
	if got := mustStrip(t, withExif, "image/png"); !bytes.Equal(got, base) {
		t.Errorf("an eXIf saying 1 was not dropped")
	}
}

func TestStripWebPChunks(t *testing.T) {
	in, want := webpCase(t)
	got := mustStrip(t, in, "image/webp")
	if !bytes.Equal(got, want) {
		t.Fatalf("Strip gave\n%q\nwant\n%q", got, want)
	}
	sameDecoded(t, in, got)
	if o, err := Orientation(bytes.NewReader(in), "image/webp"); o != 6 || err != nil {
		t.Errorf("Orientation: %d, %v", o, err)
	}
	// Without an io.Seeker, the same.
	var out bytes.Buffer
	if err := Strip(&out, struct{ io.Reader }{bytes.NewReader(in)}, "image/webp"); err != nil || !bytes.Equal(out.Bytes(), want) {
		t.Errorf("from a plain io.Reader: %v", err)
	}

	img := webpChunk("VP8L", vp8l(9, 5, checkered))
	xmp := webpChunk("XMP ", []byte("<x:xmpmeta>Someone</x:xmpmeta>"))
	for _, c := range []struct {
		name     string
		in, want []byte
		o        int
	}{
		{"orientation 1: EXIF and its flag go", webpFile(webpVP8X(webpEXIF|webpXMP, 9, 5), img, webpChunk("EXIF", cameraEXIF(1)), xmp), webpFile(webpVP8X(0, 9, 5), img), 1},
		{"no EXIF flag: browsers ignore the EXIF", webpFile(webpVP8X(0, 9, 5), img, webpChunk("EXIF", cameraEXIF(6))), webpFile(webpVP8X(0, 9, 5), img), 1},
		{"an EXIF with the JPEG prefix", webpFile(webpVP8X(webpEXIF, 9, 5), img, webpChunk("EXIF", append([]byte("Exif\x00\x00"), cameraEXIF(7)...))),
			webpFile(webpVP8X(webpEXIF, 9, 5), img, webpChunk("EXIF", minimalEXIF(7))), 7},
		{"a simple file is unchanged", webpFile(img), webpFile(img), 1},
		{"but loses bytes after its end", append(webpFile(img), "after"...), webpFile(img), 1},
		{"and chunks after its image", webpFile(img, webpChunk("EXIF", cameraEXIF(6))), webpFile(img), 1},
	} {
		if got := mustStrip(t, c.in, "image/webp"); !bytes.Equal(got, c.want) {
			t.Errorf("%s: Strip gave\n%q\nwant\n%q", c.name, got, c.want)
		}
		if o, err := Orientation(bytes.NewReader(c.in), "image/webp"); o != c.o || err != nil {
			t.Errorf("%s: Orientation %d, %v; want %d", c.name, o, err, c.o)
		}
	}
}

func TestStripGIFExtensions(t *testing.T) {
	in, want := gifCase(t)
	got := mustStrip(t, in, "image/gif")
	if !bytes.Equal(got, want) {
		t.Fatalf("Strip gave\n%q\nwant\n%q", got, want)
	}
	g, err := gif.DecodeAll(bytes.NewReader(got))
	if err != nil || len(g.Image) != 2 || g.LoopCount != 0 {
		t.Fatalf("the stripped GIF: %v", err)
	}
	if o, err := Orientation(bytes.NewReader(in), "image/gif"); o != 1 || err != nil {
		t.Errorf("Orientation: %d, %v", o, err)
	}
}

// TestStripTestdataFiles strips whatever sample images testdata holds
// (progressive, CMYK, interlaced, 16-bit, lossy WebP with alpha ...): the
// pixels must not change, and a second Strip must change nothing.
func TestStripTestdataFiles(t *testing.T) {
	for _, path := range testdataImages(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ct, err := Sniff(data)
		if err != nil {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			got := mustStrip(t, data, ct)
			sameDecoded(t, data, got)
			if again := mustStrip(t, got, ct); !bytes.Equal(again, got) {
				t.Error("stripping twice changes the file")
			}
			oi, err1 := Orientation(bytes.NewReader(data), ct)
			oo, err2 := Orientation(bytes.NewReader(got), ct)
			if oi != oo || err1 != nil || err2 != nil {
				t.Errorf("orientation %d (%v) became %d (%v)", oi, err1, oo, err2)
			}
		})
	}
}

// testdataImages lists the image files directly in testdata.
func testdataImages(t testing.TB) []string {
	var paths []string
	for _, ext := range []string{"*.jpg", "*.jpeg", "*.png", "*.gif", "*.webp"} {
		m, err := filepath.Glob(filepath.Join("testdata", ext))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	return paths
}

func TestOrientationAndUpright(t *testing.T) {
	base := plainJPEG(t) // 40×24
	for o := 1; o <= 8; o++ {
		in := bytes.Join([][]byte{base[:2], mkJPEGSegment(0xE1, append([]byte("Exif\x00\x00"), cameraEXIF(uint16(o))...)), base[2:]}, nil)
		got, err := Orientation(bytes.NewReader(in), "image/jpeg")
		if got != o || err != nil {
			t.Errorf("Orientation %d: %d, %v", o, got, err)
		}
		out := mustStrip(t, in, "image/jpeg")
		if (o == 1) != bytes.Equal(out, base) {
			t.Errorf("orientation %d: the stripped file has EXIF %v", o, o != 1)
		}
		m, err := Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		if w, h := Upright(40, 24, o); m.Bounds().Dx() != w || m.Bounds().Dy() != h {
			t.Errorf("orientation %d: decoded %v, Upright says %d×%d", o, m.Bounds(), w, h)
		}
	}

	// Orientation reads from the start whatever the offset.
	r := bytes.NewReader(withExif(base, minimalEXIF(5)))
	r.Seek(10, io.SeekStart)
	if o, err := Orientation(r, "image/jpeg"); o != 5 || err != nil {
		t.Errorf("big-endian minimal EXIF: %d, %v", o, err)
	}

	le := binary.LittleEndian
	longEntry := le.AppendUint16([]byte("II*\x00\x08\x00\x00\x00\x01\x00"), 0x0112)
	longEntry = le.AppendUint32(le.AppendUint16(longEntry, 4), 1)
	longEntry = le.AppendUint32(longEntry, 6)
	for name, exif := range map[string][]byte{
		"no tag":            cameraEXIF(0),
		"value 9":           cameraEXIF(9),
		"value 0":           cameraEXIF(0x0100),
		"LONG, not SHORT":   longEntry,
		"IFD past the end":  []byte("MM\x00*\x00\x00\x01\x00"),
		"IFD inside header": []byte("MM\x00*\x00\x00\x00\x04\x00\x01"),
		"cut in the IFD":    cameraEXIF(6)[:20],
		"not TIFF":          []byte("XX\x00*\x00\x00\x00\x08\x00\x00"),
		"empty":             nil,
	} {
		if o, err := Orientation(bytes.NewReader(withExif(base, exif)), "image/jpeg"); o != 1 || err != nil {
			t.Errorf("%s: %d, %v", name, o, err)
		}
	}

	if o, err := Orientation(bytes.NewReader(base), "image/tiff"); o != 1 || !errors.Is(err, ErrUnsupported) {
		t.Errorf("TIFF: %d, %v", o, err)
	}
	if o, err := Orientation(bytes.NewReader([]byte("\xff\xd8\xff")), "image/jpeg"); o != 1 || !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated: %d, %v", o, err)
	}

	for _, c := range [][4]int{{1, 6, 4, 6}, {2, 6, 4, 6}, {3, 6, 4, 6}, {4, 6, 4, 6}, {5, 4, 6, 6}, {6, 4, 6, 6}, {7, 4, 6, 6}, {8, 4, 6, 6}, {0, 6, 4, 6}, {9, 6, 4, 6}} {
		if w, h := Upright(6, 4, c[0]); w != c[1] || h != c[2] {
			t.Errorf("Upright(6, 4, %d) = %d, %d", c[0], w, h)
		}
	}
}

// withExif puts an Exif APP1 segment holding tiff after SOI.
func withExif(jpg, tiff []byte) []byte {
	seg := mkJPEGSegment(0xE1, append([]byte("Exif\x00\x00"), tiff...))
	return bytes.Join([][]byte{jpg[:2], seg, jpg[2:]}, nil)
}

// repeatScan repeats a baseline JPEG's one scan (its SOS segment and
// data) to make n.
func repeatScan(jpg []byte, n int) []byte {
	sos := bytes.Index(jpg, []byte{0xFF, 0xDA})
	scan := jpg[sos : len(jpg)-2]
	return append(append(append([]byte{}, jpg[:sos]...), bytes.Repeat(scan, n)...), 0xFF, 0xD9)
}

// A JPEG of as many scans as are accepted is stripped (the limit is not
// one below where it says).
func TestStripScanLimit(t *testing.T) {
	var out bytes.Buffer
	if err := Strip(&out, bytes.NewReader(repeatScan(plainJPEG(t), maxJPEGScans)), "image/jpeg"); err != nil {
		t.Fatalf("%d scans: %v", maxJPEGScans, err)
	}
}

func TestStripMalformed(t *testing.T) {
	jpg, pngb, gifb, wp := plainJPEG(t), plainPNG(t), plainGIF(t), plainWebP(t)
	soi := "\xff\xd8"
	ihdr := string(pngb[8:33])
	img := webpChunk("VP8L", vp8l(9, 5, checkered))
	badCRC := bytes.Clone(pngb)
	badCRC[40]++ // in the IDAT data
	bigRIFF := bytes.Clone(wp)
	bigRIFF[4] += 100
	lsd := string(gifb[:13]) // no global colour table: 0x80 cleared below
	lsd = lsd[:10] + "\x00" + lsd[11:]
	for _, c := range []struct {
		name, ct string
		data     []byte
	}{
		{"empty JPEG", "image/jpeg", nil},
		{"JPEG without SOI", "image/jpeg", []byte("\xff\xd9")},
		{"JPEG cut in a segment", "image/jpeg", jpg[:30]},
		{"JPEG cut in the scan", "image/jpeg", jpg[:len(jpg)-20]},
		{"JPEG without end marker", "image/jpeg", jpg[:len(jpg)-2]},
		{"JPEG segment length 1", "image/jpeg", []byte(soi + "\xff\xe1\x00\x01" + "\xff\xd9")},
		{"JPEG reserved marker", "image/jpeg", []byte(soi + "\xff\x02\x00\x04ab\xff\xd9")},
		{"JPEG second SOI", "image/jpeg", []byte(soi + "\xff\xd8\xff\xd9")},
		{"JPEG end before any scan", "image/jpeg", []byte(soi + "\xff\xe0\x00\x04ab\xff\xd9")},
		{"JPEG only fill bytes", "image/jpeg", []byte(soi + "\xff\xff\xff")},
		{"JPEG of 501 scans", "image/jpeg", repeatScan(jpg, maxJPEGScans+1)},
		{"empty PNG", "image/png", nil},
		{"PNG bad signature", "image/png", append([]byte("\x89PNG\r\n\x1a\x0b"), pngb[8:]...)},
		{"PNG bad CRC", "image/png", badCRC},
		{"PNG bad CRC in a dropped chunk", "image/png", bytes.Join([][]byte{pngb[:33], []byte("\x00\x00\x00\x01tEXtx\x00\x00\x00\x00"), pngb[33:]}, nil)},
		{"PNG without IHDR first", "image/png", append(append([]byte{}, pngb[:8]...), pngb[33:]...)},
		{"PNG with two IHDR", "image/png", bytes.Join([][]byte{pngb[:33], []byte(ihdr), pngb[33:]}, nil)},
		{"PNG without IEND", "image/png", pngb[:len(pngb)-12]},
		{"PNG chunk over 2³¹", "image/png", append(append([]byte{}, pngb[:33]...), "\x80\x00\x00\x00IDAT"...)},
		{"PNG eXIf longer than the file", "image/png", append(append([]byte{}, pngb[:33]...), "\x00\x0f\x00\x00eXIfMM\x00*"...)},
		{"PNG bad chunk type", "image/png", append(append([]byte{}, pngb[:33]...), "\x00\x00\x00\x00ID@T\x00\x00\x00\x00"...)},
		{"empty WebP", "image/webp", nil},
		{"WebP RIFF size past the end", "image/webp", bigRIFF},
		{"WebP chunk past the RIFF end", "image/webp", webpFile(append(webpChunk("VP8L", nil)[:4], "\xff\x00\x00\x00"...))},
		{"WebP VP8X of 9 bytes", "image/webp", webpFile(webpChunk("VP8X", make([]byte, 9)), img)},
		{"WebP two VP8X", "image/webp", webpFile(webpVP8X(0, 9, 5), webpVP8X(0, 9, 5), img)},
		{"WebP VP8X after the image", "image/webp", webpFile(img, webpVP8X(0, 9, 5))},
		{"WebP unknown first chunk", "image/webp", webpFile(webpChunk("JUNK", nil), img)},
		{"WebP without image", "image/webp", webpFile(webpVP8X(0, 9, 5), webpChunk("ICCP", tinyICC()))},
		{"WebP short chunk header", "image/webp", webpFile(img, []byte("EXI"))},
		{"WebP not RIFF", "image/webp", append([]byte("RIFX"), wp[4:]...)},
		{"empty GIF", "image/gif", nil},
		{"GIF88a", "image/gif", append([]byte("GIF88a"), gifb[6:]...)},
		{"GIF unknown block", "image/gif", []byte(lsd + "\x99")},
		{"GIF without trailer", "image/gif", gifb[:len(gifb)-1]},
		{"GIF cut in a frame", "image/gif", gifb[:len(gifb)/2]},
		{"GIF cut in an extension", "image/gif", []byte(lsd + "\x21\xfe\x05ab")},
	} {
		err := Strip(io.Discard, bytes.NewReader(c.data), c.ct)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", c.name, err)
		}
	}

	if err := Strip(io.Discard, bytes.NewReader(jpg), "image/tiff"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("TIFF: %v", err)
	}
	// A failing reader's error comes through as it is.
	boom := errors.New("boom")
	for ct, data := range map[string][]byte{"image/jpeg": jpg, "image/png": pngb, "image/gif": gifb, "image/webp": wp} {
		r := io.MultiReader(bytes.NewReader(data[:len(data)/2]), iotest.ErrReader(boom))
		if err := Strip(io.Discard, r, ct); !errors.Is(err, boom) {
			t.Errorf("%s from a failing reader: %v", ct, err)
		}
	}
	// So does a failing writer's.
	if err := Strip(failingWriter{boom}, bytes.NewReader(jpg), "image/jpeg"); !errors.Is(err, boom) {
		t.Errorf("a failing writer: %v", err)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestStripLyingLengths checks that a length field saying "a lot follows"
// costs no memory when little does.
func TestStripLyingLengths(t *testing.T) {
	pngb := plainPNG(t)
	for name, c := range map[string]struct {
		ct   string
		data []byte
	}{
		"PNG eXIf of 1 MB":  {"image/png", append(append([]byte{}, pngb[:33]...), "\x00\x10\x00\x00eXIfMM\x00*"...)},
		"PNG IDAT of 2 GB":  {"image/png", append(append([]byte{}, pngb[:33]...), "\x7f\xff\xff\xffIDATxx"...)},
		"WebP EXIF of 1 MB": {"image/webp", webpFile(webpVP8X(webpEXIF, 9, 5), []byte("EXIF\x00\x00\x10\x00MM\x00*"))},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := Strip(io.Discard, bytes.NewReader(c.data), c.ct)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 256<<10 {
			t.Errorf("%s: Strip allocated %d bytes", name, n)
		}
	}
}
