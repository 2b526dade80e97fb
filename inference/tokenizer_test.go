package inference

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestByteLevelBPEDecode(t *testing.T) {
	t.Parallel()
	tok, err := LoadTokenizer(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	runeOf := map[byte]rune{}
	for r, b := range byteUnicode {
		runeOf[b] = r
	}
	id := func(s string) int64 {
		t.Helper()
		v, ok := tok.ID(s)
		if !ok {
			t.Fatalf("%q not in vocab", s)
		}
		return v
	}
	bytesOf := func(s string) []int64 {
		var ids []int64
		for _, b := range []byte(s) {
			ids = append(ids, id(string(runeOf[b])))
		}
		return ids
	}
	eos := id("<|endoftext|>")
	if !tok.IsSpecial(eos) {
		t.Fatal("<|endoftext|> should be special")
	}
	if tok.VocabSize() < 257 {
		t.Fatalf("vocab size %d, want the 256 byte symbols and more", tok.VocabSize())
	}

	cases := []struct {
		name string
		ids  []int64
		want string
	}{
		{"merged words, non-ASCII bytes, cleanup", append(append(append([]int64{eos, id("Ġa"), id("Ġsitting")}, bytesOf(" café")...), bytesOf(" .")...), eos), "a sitting café."},
		{"emoji from four byte tokens", bytesOf(" ok 🙂"), "ok 🙂"},
		{"lone continuation byte", append(bytesOf("x"), id(string(runeOf[0xA9]))), "x\uFFFD"},
		{"truncated sequence is one replacement", append(bytesOf("é")[:1], bytesOf("z")...), "\uFFFDz"},
		{"only special tokens", []int64{eos, eos}, ""},
		{"unknown id is skipped", []int64{id("Ġa"), 99999}, "a"},
	}
	for _, c := range cases {
		if got := tok.Decode(c.ids); got != c.want {
			t.Errorf("%s: Decode(%v) = %q, want %q", c.name, c.ids, got, c.want)
		}
	}
}

func TestWordLevelDecode(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "wordlevel")
	tok, err := LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Decode([]int64{2, 4, 5, 6, 7, 8, 9, 3, 0, 0}), "a dog on the grass."; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
	if got, want := tok.Decode([]int64{11, 12, 13, 10, 14, 15}), "it's sunny, café?"; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}

	raw, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	noClean, err := ParseTokenizer(raw, []byte(`{"clean_up_tokenization_spaces": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := noClean.Decode([]int64{2, 4, 5, 9, 3}), "a dog ."; got != want {
		t.Errorf("without cleanup: Decode = %q, want %q", got, want)
	}
}

func TestOtherDecoders(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, vocab, decoder string
		ids                  []int64
		want                 string
	}{
		{"metaspace", `{"▁a":0,"▁dog":1,"s":2}`, `{"type":"Metaspace","replacement":"▁","add_prefix_space":true}`, []int64{0, 1, 2}, "a dogs"},
		{"wordpiece", `{"a":0,"dog":1,"##s":2,".":3}`, `{"type":"WordPiece","prefix":"##","cleanup":true}`, []int64{0, 1, 2, 3}, "a dogs."},
		{"llama-style sequence", `{"▁hi":0,"<0xC3>":1,"<0xA9>":2,"▁there":3}`,
			`{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}`,
			[]int64{0, 1, 2, 3}, "hié there"},
	}
	for _, c := range cases {
		js := `{"model":{"type":"WordLevel","vocab":` + c.vocab + `},"decoder":` + c.decoder + `}`
		tok, err := ParseTokenizer([]byte(js), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := tok.Decode(c.ids); got != c.want {
			t.Errorf("%s: Decode = %q, want %q", c.name, got, c.want)
		}
	}
	_, err := ParseTokenizer([]byte(`{"model":{"type":"WordLevel","vocab":{"a":0}},"decoder":{"type":"Mystery"}}`), nil)
	if err == nil || !strings.Contains(err.Error(), "Mystery") {
		t.Errorf("unknown decoder: err = %v", err)
	}
}
