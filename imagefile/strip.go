package imagefile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// ErrMalformed is wrapped by the errors Strip and Orientation return for
// input that is not a well-formed file of its format.
var ErrMalformed = errors.New("malformed image")

// maxEXIF caps the EXIF block read from a PNG or WebP chunk to find the
// orientation; a bigger one is dropped without being read. (A JPEG segment
// is at most 64 KB anyway.)
const maxEXIF = 1 << 20

// Strip copies the image in src to dst without its metadata: EXIF (GPS
// position, camera, dates, thumbnails), XMP, IPTC, comments, text chunks and
// unknown extras that could hold anything. It keeps what changes how the
// image looks: colour profiles, the Adobe colour transform, gamma,
// animation, and the EXIF orientation, which it rewrites as a minimal EXIF
// block holding nothing else. Nothing is re-encoded: the compressed image
// data is copied byte for byte.
//
// contentType is one that Sniff returns. Malformed input gives an error
// wrapping ErrMalformed; dst may then hold part of a file and should be
// thrown away. A WebP file states its total size before its metadata, which
// usually comes last, so for WebP src is read twice if it is an
// io.ReadSeeker (an *os.File, say) and read into memory otherwise.
func Strip(dst io.Writer, src io.Reader, contentType string) error {
	// Single writes to w are not checked: a bufio.Writer keeps its first
	// error, and Flush returns it.
	w := bufio.NewWriter(dst)
	var err error
	switch contentType {
	case "image/jpeg":
		err = stripJPEG(w, bufio.NewReader(src))
	case "image/png":
		err = stripPNG(w, bufio.NewReader(src))
	case "image/gif":
		err = stripGIF(w, bufio.NewReader(src))
	case "image/webp":
		rs, ok := src.(io.ReadSeeker)
		if !ok {
			b, err := io.ReadAll(src)
			if err != nil {
				return err
			}
			rs = bytes.NewReader(b)
		}
		err = stripWebP(w, rs)
	default:
		return fmt.Errorf("cannot strip %q: %w", contentType, ErrUnsupported)
	}
	if err != nil {
		return err
	}
	return w.Flush()
}

// Orientation returns the EXIF orientation of the image in r, 1 to 8, as
// Strip keeps it: 1 when there is none (and for GIF, which has no EXIF). It
// reads r from its start. On error it returns 1 with the error.
func Orientation(r io.ReadSeeker, contentType string) (int, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return 1, err
	}
	var (
		o   int
		err error
	)
	switch contentType {
	case "image/jpeg":
		o, err = jpegOrientation(bufio.NewReader(r))
	case "image/png":
		o, err = pngOrientation(r)
	case "image/webp":
		var p webpPlan
		p, err = planWebP(r)
		o = p.orientation
	case "image/gif":
		o = 1
	default:
		err = fmt.Errorf("no orientation for %q: %w", contentType, ErrUnsupported)
	}
	if err != nil {
		return 1, err
	}
	return o, nil
}

// Upright returns the size of a w×h image as shown with the given EXIF
// orientation: 5 to 8 turn it a quarter turn, swapping width and height.
func Upright(w, h, orientation int) (int, int) {
	if orientation >= 5 && orientation <= 8 {
		return h, w
	}
	return w, h
}

// exifOrientation reads the Orientation tag (0x0112) from IFD0 of a TIFF
// structured EXIF block. It returns 1 when the tag is absent or the block
// cannot be read: a broken EXIF block is dropped like any other.
func exifOrientation(b []byte) int {
	// PNG and WebP EXIF should start with the TIFF header, but some
	// writers keep JPEG's "Exif\0\0" before it.
	b = bytes.TrimPrefix(b, []byte("Exif\x00\x00"))
	if len(b) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(b[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := uint64(bo.Uint32(b[4:]))
	if off < 8 || off+2 > uint64(len(b)) {
		return 1
	}
	n := int(bo.Uint16(b[off:]))
	e := b[off+2:]
	for ; n > 0 && len(e) >= 12; n, e = n-1, e[12:] {
		if bo.Uint16(e) != 0x0112 {
			continue
		}
		// A SHORT, count 1: the value sits in the first two bytes of the
		// value field, whatever the byte order.
		v := int(bo.Uint16(e[8:]))
		if bo.Uint16(e[2:]) != 3 || bo.Uint32(e[4:]) != 1 || v < 1 || v > 8 {
			return 1
		}
		return v
	}
	return 1
}

// minimalEXIF builds the EXIF block Strip writes back: a big-endian TIFF
// header and an IFD0 holding only the Orientation tag. JPEG puts
// "Exif\0\0" before it; PNG and WebP store it as is.
func minimalEXIF(orientation int) []byte {
	return []byte{
		'M', 'M', 0, 42, 0, 0, 0, 8, // header; IFD0 at offset 8
		0, 1, // one entry
		0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, byte(orientation), 0, 0, // Orientation, SHORT, count 1
		0, 0, 0, 0, // no next IFD
	}
}

func malformed(format, why string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, format, fmt.Sprintf(why, args...))
}

// readErr turns an early end of input into ErrMalformed; other errors (a
// failing disk, a body over its size limit) pass through as they are.
func readErr(format string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return malformed(format, "the file is truncated")
	}
	return err
}

// readN reads n bytes. The buffer grows as the data arrives, so a length
// field that lies costs no more memory than the input holds.
func readN(r io.Reader, n int64, format string) ([]byte, error) {
	var b bytes.Buffer
	if _, err := io.CopyN(&b, r, n); err != nil {
		return nil, readErr(format, err)
	}
	return b.Bytes(), nil
}

// JPEG markers.
const (
	jpegSOI   = 0xD8
	jpegEOI   = 0xD9
	jpegSOS   = 0xDA
	jpegAPP0  = 0xE0
	jpegAPP1  = 0xE1
	jpegAPP2  = 0xE2
	jpegAPP14 = 0xEE
	jpegAPP15 = 0xEF
	jpegCOM   = 0xFE
)

func isRST(m byte) bool { return m >= 0xD0 && m <= 0xD7 }

// maxJPEGScans bounds a JPEG's scans (libjpeg's default progression has
// 10, so 500 leaves room for any encoder's): each scan is another pass
// over every block, so a 221 KB file of 10,000 repeated scans kept Go's
// decoder busy for 15 s.
const maxJPEGScans = 500

// stripJPEG keeps JFIF (without its thumbnail), ICC profile chunks, Adobe
// and every segment that is not APPn or COM; the first Exif segment before
// the image data is replaced by a minimal one if it holds an orientation.
// It stops at the end marker: what follows (the extra images of MPF files,
// the videos of "motion photos") is dropped.
func stripJPEG(w *bufio.Writer, r *bufio.Reader) error {
	if err := readSOI(r); err != nil {
		return err
	}
	w.Write([]byte{0xFF, jpegSOI})
	buf := make([]byte, 1<<16)
	var sawExif, sawScan bool
	scans := 0
	var pending byte // a marker that copyScan has read already
	for {
		m := pending
		pending = 0
		if m == 0 {
			var err error
			if m, err = readMarker(r); err != nil {
				return err
			}
		}
		switch {
		case m == jpegEOI:
			if !sawScan {
				return malformed("JPEG", "no image data")
			}
			w.Write([]byte{0xFF, jpegEOI})
			return nil
		case isRST(m): // stray, no length; decoders ignore it
			w.Write([]byte{0xFF, m})
			continue
		case m < 0xC0 || m == jpegSOI:
			return malformed("JPEG", "unexpected marker %#02x", m)
		}
		seg, err := readSegment(r, buf)
		if err != nil {
			return err
		}
		switch {
		case m == jpegAPP0 && bytes.HasPrefix(seg, []byte("JFIF\x00")):
			// Keep the header but not its thumbnail, which may show the
			// picture as it was before it was cropped.
			if len(seg) >= 14 {
				seg = seg[:14]
				seg[12], seg[13] = 0, 0
			}
			writeSegment(w, m, seg)
		case m == jpegAPP1 && !sawExif && !sawScan && bytes.HasPrefix(seg, []byte("Exif\x00")):
			// Decoders read the first Exif segment only.
			sawExif = true
			if o := exifOrientation(seg[min(6, len(seg)):]); o != 1 {
				writeSegment(w, m, append([]byte("Exif\x00\x00"), minimalEXIF(o)...))
			}
		case m == jpegAPP2 && bytes.HasPrefix(seg, []byte("ICC_PROFILE\x00")),
			m == jpegAPP14 && bytes.HasPrefix(seg, []byte("Adobe")):
			writeSegment(w, m, seg)
		case m >= jpegAPP0 && m <= jpegAPP15 || m == jpegCOM:
			// metadata: dropped
		default: // SOFn, DHT, DQT, DRI, SOS, ...
			writeSegment(w, m, seg)
			if m == jpegSOS {
				if scans++; scans > maxJPEGScans {
					return malformed("JPEG", "more than %d scans", maxJPEGScans)
				}
				sawScan = true
				if pending, err = copyScan(w, r); err != nil {
					return err
				}
			}
		}
	}
}

func readSOI(r *bufio.Reader) error {
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return readErr("JPEG", err)
	}
	if b != [2]byte{0xFF, jpegSOI} {
		return malformed("JPEG", "no start marker")
	}
	return nil
}

// readMarker returns the code of the next marker. Like Go's decoder and
// libjpeg it skips stray bytes before it, and 0xFF fill bytes.
func readMarker(r *bufio.Reader) (byte, error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, readErr("JPEG", err)
		}
		if b != 0xFF {
			continue
		}
		for b == 0xFF {
			if b, err = r.ReadByte(); err != nil {
				return 0, readErr("JPEG", err)
			}
		}
		if b != 0 { // 0xFF 0x00 is stray data too
			return b, nil
		}
	}
}

// readSegment reads a segment's length and returns its payload, in buf.
func readSegment(r *bufio.Reader, buf []byte) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, readErr("JPEG", err)
	}
	n := int(l[0])<<8 | int(l[1])
	if n < 2 {
		return nil, malformed("JPEG", "segment length %d", n)
	}
	seg := buf[:n-2]
	if _, err := io.ReadFull(r, seg); err != nil {
		return nil, readErr("JPEG", err)
	}
	return seg, nil
}

func writeSegment(w *bufio.Writer, m byte, payload []byte) {
	n := len(payload) + 2
	w.Write([]byte{0xFF, m, byte(n >> 8), byte(n)})
	w.Write(payload)
}

// copyScan copies entropy-coded data up to the next marker and returns that
// marker's code. In the data 0xFF is followed by 0x00 (a stuffed byte) or a
// restart marker; any other code ends the scan. Fill bytes are dropped.
func copyScan(w *bufio.Writer, r *bufio.Reader) (byte, error) {
	for {
		chunk, err := r.ReadSlice(0xFF)
		if err == bufio.ErrBufferFull {
			w.Write(chunk)
			continue
		}
		if err != nil {
			return 0, readErr("JPEG", err)
		}
		w.Write(chunk[:len(chunk)-1])
		b := byte(0xFF)
		for b == 0xFF {
			if b, err = r.ReadByte(); err != nil {
				return 0, readErr("JPEG", err)
			}
		}
		if b != 0 && !isRST(b) {
			return b, nil
		}
		w.Write([]byte{0xFF, b})
	}
}

// jpegOrientation reads the segments before the image data, as stripJPEG
// does, up to the first Exif segment.
func jpegOrientation(r *bufio.Reader) (int, error) {
	if err := readSOI(r); err != nil {
		return 1, err
	}
	buf := make([]byte, 1<<16)
	for {
		m, err := readMarker(r)
		switch {
		case err != nil:
			return 1, err
		case m == jpegSOS || m == jpegEOI:
			return 1, nil
		case isRST(m):
			continue
		case m < 0xC0 || m == jpegSOI:
			return 1, malformed("JPEG", "unexpected marker %#02x", m)
		}
		seg, err := readSegment(r, buf)
		if err != nil {
			return 1, err
		}
		if m == jpegAPP1 && bytes.HasPrefix(seg, []byte("Exif\x00")) {
			return exifOrientation(seg[min(6, len(seg)):]), nil
		}
	}
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// pngKeep lists the ancillary chunks Strip keeps: those that change how the
// image looks or moves. Other ancillary chunks (text, time, EXIF, private
// ones that may hold anything) are dropped. Critical chunks are all kept.
var pngKeep = map[string]bool{
	"tRNS": true, "cHRM": true, "gAMA": true, "iCCP": true, "sBIT": true,
	"sRGB": true, "cICP": true, "mDCV": true, "cLLI": true, "bKGD": true,
	"hIST": true, "pHYs": true, "sPLT": true, "oFFs": true, "sCAL": true,
	"sTER": true, "acTL": true, "fcTL": true, "fdAT": true,
}

// stripPNG copies the kept chunks with their CRCs, checking every CRC on
// the way, and replaces the eXIf chunk by a minimal one if it holds an
// orientation. It stops after IEND.
func stripPNG(w *bufio.Writer, r *bufio.Reader) error {
	sig := make([]byte, len(pngSignature))
	if _, err := io.ReadFull(r, sig); err != nil {
		return readErr("PNG", err)
	}
	if !bytes.Equal(sig, pngSignature) {
		return malformed("PNG", "bad signature")
	}
	w.Write(pngSignature)
	sawExif := false
	for first := true; ; first = false {
		var h [8]byte // length and type
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return readErr("PNG", err)
		}
		n, typ := binary.BigEndian.Uint32(h[:4]), string(h[4:])
		switch {
		case n > math.MaxInt32:
			return malformed("PNG", "chunk length %d", n)
		case !pngChunkType(h[4:]):
			return malformed("PNG", "bad chunk type %q", typ)
		case first != (typ == "IHDR"):
			return malformed("PNG", "IHDR is not the first chunk")
		}
		crc := crc32.NewIEEE()
		crc.Write(h[4:])
		out := io.Discard
		var exif *bytes.Buffer
		switch {
		case typ == "eXIf":
			// Only the first counts (there may be only one).
			if !sawExif && n <= maxEXIF {
				exif = new(bytes.Buffer)
				out = exif
			}
			sawExif = true
		case typ[0]&0x20 == 0 || pngKeep[typ]: // critical or kept
			w.Write(h[:])
			out = w
		}
		if _, err := io.CopyN(io.MultiWriter(out, crc), r, int64(n)); err != nil {
			return readErr("PNG", err)
		}
		var sum [4]byte
		if _, err := io.ReadFull(r, sum[:]); err != nil {
			return readErr("PNG", err)
		}
		if binary.BigEndian.Uint32(sum[:]) != crc.Sum32() {
			return malformed("PNG", "bad CRC in a %s chunk", typ)
		}
		if out == w {
			w.Write(sum[:])
		}
		if exif != nil {
			if o := exifOrientation(exif.Bytes()); o != 1 {
				writePNGChunk(w, "eXIf", minimalEXIF(o))
			}
		}
		if typ == "IEND" {
			return nil
		}
	}
}

// pngChunkType says whether t is four ASCII letters, as chunk types are.
func pngChunkType(t []byte) bool {
	for _, c := range t {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

func writePNGChunk(w *bufio.Writer, typ string, data []byte) {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
	w.Write(b)
}

// pngOrientation finds the first eXIf chunk, seeking over the others.
func pngOrientation(r io.ReadSeeker) (int, error) {
	sig := make([]byte, len(pngSignature))
	if _, err := io.ReadFull(r, sig); err != nil {
		return 1, readErr("PNG", err)
	}
	if !bytes.Equal(sig, pngSignature) {
		return 1, malformed("PNG", "bad signature")
	}
	for {
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return 1, readErr("PNG", err)
		}
		n := binary.BigEndian.Uint32(h[:4])
		switch string(h[4:]) {
		case "eXIf":
			if n > maxEXIF {
				return 1, nil // Strip drops it unread
			}
			b, err := readN(r, int64(n), "PNG")
			if err != nil {
				return 1, err
			}
			return exifOrientation(b), nil
		case "IEND":
			return 1, nil
		}
		if _, err := r.Seek(int64(n)+4, io.SeekCurrent); err != nil {
			return 1, err
		}
	}
}

// VP8X flags.
const (
	webpICC  = 0x20
	webpEXIF = 0x08
	webpXMP  = 0x04
)

// webpPart is one chunk of the output: either a chunk of the input, copied
// with its header and padding, or new bytes.
type webpPart struct {
	off, size int64
	data      []byte
}

type webpPlan struct {
	parts       []webpPart
	orientation int
}

// planWebP reads the chunk headers of a WebP file (seeking over the chunk
// data) and lists the chunks Strip writes: VP8X with fixed flags, ICCP,
// ANIM, the image chunks, and a minimal EXIF chunk if the EXIF held an
// orientation. XMP, EXIF and unknown chunks are dropped.
func planWebP(r io.ReadSeeker) (webpPlan, error) {
	p := webpPlan{orientation: 1}
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return p, err
	}
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return p, err
	}
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		return p, err
	}
	var h [12]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return p, readErr("WebP", err)
	}
	if string(h[:4]) != "RIFF" || string(h[8:]) != "WEBP" {
		return p, malformed("WebP", "no RIFF WEBP header")
	}
	end := start + 8 + int64(binary.LittleEndian.Uint32(h[4:]))
	if end > size {
		return p, malformed("WebP", "the file is truncated")
	}
	vp8x := -1 // index of the VP8X part
	var flags byte
	sawExif, sawImage := false, false
	for pos := start + 12; pos < end; {
		if end-pos < 8 {
			return p, malformed("WebP", "a chunk header runs past the end of the file")
		}
		if _, err := r.Seek(pos, io.SeekStart); err != nil {
			return p, err
		}
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return p, readErr("WebP", err)
		}
		id, n := string(ch[:4]), int64(binary.LittleEndian.Uint32(ch[4:]))
		total := 8 + n + n&1 // chunks are padded to an even size
		if pos+total > end {
			return p, malformed("WebP", "a %q chunk runs past the end of the file", id)
		}
		if pos == start+12 && id != "VP8X" && id != "VP8 " && id != "VP8L" {
			return p, malformed("WebP", "the first chunk is %q", id)
		}
		switch id {
		case "VP8X":
			if pos != start+12 || n != 10 {
				return p, malformed("WebP", "bad VP8X chunk")
			}
			b, err := readN(r, 10, "WebP")
			if err != nil {
				return p, err
			}
			flags = b[0]
			vp8x = len(p.parts)
			p.parts = append(p.parts, webpPart{data: append(ch[:], b...)})
		case "EXIF":
			// Browsers read the EXIF only when VP8X announces it, and the
			// first chunk only.
			if vp8x >= 0 && flags&webpEXIF != 0 && !sawExif && n <= maxEXIF {
				b, err := readN(r, n, "WebP")
				if err != nil {
					return p, err
				}
				if o := exifOrientation(b); o != 1 {
					p.orientation = o
					p.parts = append(p.parts, webpPart{data: riffChunk("EXIF", minimalEXIF(o))})
				}
			}
			sawExif = true
		case "VP8 ", "VP8L", "ANMF", "ALPH", "ICCP", "ANIM":
			sawImage = sawImage || id == "VP8 " || id == "VP8L" || id == "ANMF"
			p.parts = append(p.parts, webpPart{off: pos, size: total})
		}
		pos += total
	}
	if !sawImage {
		return p, malformed("WebP", "no image data")
	}
	if vp8x >= 0 {
		f := &p.parts[vp8x].data[8]
		*f &^= webpXMP | webpEXIF
		if p.orientation != 1 {
			*f |= webpEXIF
		}
	}
	return p, nil
}

func riffChunk(id string, data []byte) []byte {
	b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func stripWebP(w *bufio.Writer, r io.ReadSeeker) error {
	p, err := planWebP(r)
	if err != nil {
		return err
	}
	size := int64(4) // "WEBP"
	for _, part := range p.parts {
		size += part.size + int64(len(part.data))
	}
	if size > math.MaxUint32 {
		return malformed("WebP", "the file is too big")
	}
	w.WriteString("RIFF")
	w.Write(binary.LittleEndian.AppendUint32(nil, uint32(size)))
	w.WriteString("WEBP")
	for _, part := range p.parts {
		if part.data != nil {
			w.Write(part.data)
			continue
		}
		if _, err := r.Seek(part.off, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.CopyN(w, r, part.size); err != nil {
			return readErr("WebP", err)
		}
	}
	return nil
}

// gifKeepApp lists the application extensions kept: looping, and the ICC
// profile. Others (XMP DataXMP, editors' private data) are dropped.
var gifKeepApp = map[string]bool{
	"NETSCAPE2.0": true,
	"ANIMEXTS1.0": true,
	"ICCRGBG1012": true,
}

// stripGIF copies the header, frames, graphic control and plain text
// extensions, and the kept application extensions; it drops comments and
// other extensions. It stops at the trailer.
func stripGIF(w *bufio.Writer, r *bufio.Reader) error {
	var h [13]byte // header and logical screen descriptor
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return readErr("GIF", err)
	}
	if s := string(h[:6]); s != "GIF87a" && s != "GIF89a" {
		return malformed("GIF", "bad header")
	}
	w.Write(h[:])
	if err := copyColorTable(w, r, h[10]); err != nil {
		return err
	}
	var buf [256]byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			return readErr("GIF", err)
		}
		switch b {
		case 0x21: // extension
			label, err := r.ReadByte()
			if err != nil {
				return readErr("GIF", err)
			}
			switch label {
			case 0xF9, 0x01: // graphic control, plain text
				w.Write([]byte{b, label})
				err = copyBlocks(w, r, &buf)
			case 0xFF: // application: the first block is its name
				var n byte
				if n, err = r.ReadByte(); err != nil {
					return readErr("GIF", err)
				}
				if n == 0 {
					continue // empty, dropped
				}
				id := buf[:n]
				if _, err = io.ReadFull(r, id); err != nil {
					return readErr("GIF", err)
				}
				if n == 11 && gifKeepApp[string(id)] {
					w.Write([]byte{b, label, n})
					w.Write(id)
					err = copyBlocks(w, r, &buf)
				} else {
					err = copyBlocks(io.Discard, r, &buf)
				}
			default: // comments and anything unknown
				err = copyBlocks(io.Discard, r, &buf)
			}
			if err != nil {
				return err
			}
		case 0x2C: // image descriptor, colour table, LZW code size, data
			d := buf[:10]
			d[0] = b
			if _, err := io.ReadFull(r, d[1:]); err != nil {
				return readErr("GIF", err)
			}
			w.Write(d)
			if err := copyColorTable(w, r, d[9]); err != nil {
				return err
			}
			lzw, err := r.ReadByte() // LZW minimum code size
			if err != nil {
				return readErr("GIF", err)
			}
			w.WriteByte(lzw)
			if err := copyBlocks(w, r, &buf); err != nil {
				return err
			}
		case 0x3B: // trailer
			w.WriteByte(b)
			return nil
		default:
			return malformed("GIF", "unknown block %#02x", b)
		}
	}
}

// copyColorTable copies the colour table that the packed flags byte of a
// screen or image descriptor announces.
func copyColorTable(w io.Writer, r io.Reader, flags byte) error {
	if flags&0x80 == 0 {
		return nil
	}
	if _, err := io.CopyN(w, r, 3<<(flags&7+1)); err != nil {
		return readErr("GIF", err)
	}
	return nil
}

// copyBlocks copies data sub-blocks up to and including the empty one that
// ends them.
func copyBlocks(w io.Writer, r *bufio.Reader, buf *[256]byte) error {
	for {
		n, err := r.ReadByte()
		if err != nil {
			return readErr("GIF", err)
		}
		b := buf[:int(n)+1]
		b[0] = n
		if _, err := io.ReadFull(r, b[1:]); err != nil {
			return readErr("GIF", err)
		}
		w.Write(b)
		if n == 0 {
			return nil
		}
	}
}
