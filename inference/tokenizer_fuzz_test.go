package inference

import (
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzTokenizers are real and hand-written tokenizers covering every
// decoder type ParseTokenizer knows.
func fuzzTokenizers(t testing.TB) []*Tokenizer {
	var toks []*Tokenizer
	for _, dir := range []string{tinyDir, filepath.Join("testdata", "wordlevel"), "../models/captionai-flickr8k"} {
		tok, err := LoadTokenizer(dir)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	vocab := `{"▁a":0,"▁dog":1,"s":2,"<0xC3>":3,"<0xA9>":4,"<0xFF>":5,"##s":6,".":7,"</w>":8,"dog</w>":9,"Ġ":10,"Ã©":11," ":12,"▁":13}`
	for _, dec := range []string{
		`{"type":"Metaspace","replacement":"▁","add_prefix_space":true}`,
		`{"type":"WordPiece","prefix":"##","cleanup":true}`,
		`{"type":"BPEDecoder","suffix":"</w>"}`,
		`{"type":"ByteLevel"}`,
		`{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}`,
		`{"type":"Replace","pattern":{"Regex":"[a-z]"},"content":"é"}`,
	} {
		js := `{"model":{"type":"WordLevel","vocab":` + vocab + `},"added_tokens":[{"id":14,"content":"<s>","special":true}],"decoder":` + dec + `}`
		tok, err := ParseTokenizer([]byte(js), nil)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	return toks
}

// FuzzTokenizerDecode decodes arbitrary id sequences, unknown and negative
// ids included, with every tokenizer. Decode must not panic and must return
// valid UTF-8 (byte-level and byte-fallback tokens that form no character
// become U+FFFD), trimmed, the same each time.
func FuzzTokenizerDecode(f *testing.F) {
	toks := fuzzTokenizers(f)
	ids := func(v ...int64) []byte {
		var b []byte
		for _, id := range v {
			b = binary.AppendVarint(b, id)
		}
		return b
	}
	f.Add(uint8(0), ids(50256, 64, 2, 13, 50256))
	f.Add(uint8(0), ids(160, 126, 161, 99999, -1))         // lone and truncated byte symbols
	f.Add(uint8(1), ids(2, 4, 5, 6, 7, 8, 9, 3, 0, 0))     // "a dog on the grass."
	f.Add(uint8(2), ids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)) // flickr8k
	f.Add(uint8(7), ids(0, 3, 4, 5, 3, 1, 14))             // byte fallback: é, then an invalid byte
	f.Add(uint8(6), ids(10, 11, 12, 3))
	f.Add(uint8(3), ids(1<<62, -1<<62, 0))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		tok := toks[int(which)%len(toks)]
		var seq []int64
		for len(data) > 0 {
			id, n := binary.Varint(data)
			if n <= 0 { // not a varint: take the byte itself
				id, n = int64(data[0]), 1
			}
			seq = append(seq, id)
			data = data[n:]
		}
		got := tok.Decode(seq)
		if !utf8.ValidString(got) {
			t.Fatalf("Decode(%v) = %q: not valid UTF-8", seq, got)
		}
		if got != strings.TrimSpace(got) {
			t.Fatalf("Decode(%v) = %q: not trimmed", seq, got)
		}
		if again := tok.Decode(seq); again != got {
			t.Fatalf("Decode(%v) = %q, then %q", seq, got, again)
		}
	})
}
