package inference

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Tokenizer decodes token ids with a Hugging Face tokenizers-format
// tokenizer.json (BPE, WordLevel, WordPiece or Unigram vocabularies).
// Encoding is not implemented: captioning only needs decoding.
type Tokenizer struct {
	tokens   map[int64]string
	ids      map[string]int64
	special  map[int64]bool
	decoders []tokenDecoder // nil: join tokens with spaces, as tokenizers does
	cleanup  bool
}

// tokenDecoder is one step of tokenizers' decode_chain.
type tokenDecoder func([]string) []string

type tokenizerFile struct {
	AddedTokens []struct {
		ID      int64  `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	Decoder json.RawMessage `json:"decoder"`
	Model   struct {
		Type  string          `json:"type"`
		Vocab json.RawMessage `json:"vocab"`
	} `json:"model"`
}

type decoderSpec struct {
	Type           string            `json:"type"`
	Decoders       []json.RawMessage `json:"decoders"`
	Prefix         string            `json:"prefix"`
	Cleanup        *bool             `json:"cleanup"`
	Replacement    string            `json:"replacement"`
	AddPrefixSpace *bool             `json:"add_prefix_space"`
	PrependScheme  string            `json:"prepend_scheme"`
	Pattern        struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	} `json:"pattern"`
	Content string `json:"content"`
	Start   int    `json:"start"`
	Stop    int    `json:"stop"`
	Suffix  string `json:"suffix"`
}

// LoadTokenizer reads dir/tokenizer.json and, if present, dir/tokenizer_config.json.
func LoadTokenizer(dir string) (*Tokenizer, error) {
	tj, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("model directory %s has no tokenizer.json", dir)
	}
	if err != nil {
		return nil, err
	}
	cj, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	t, err := ParseTokenizer(tj, cj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "tokenizer.json"), err)
	}
	return t, nil
}

// ParseTokenizer builds a Tokenizer from tokenizer.json contents and optional
// tokenizer_config.json contents (nil when absent).
func ParseTokenizer(tokenizerJSON, configJSON []byte) (*Tokenizer, error) {
	var f tokenizerFile
	if err := json.Unmarshal(tokenizerJSON, &f); err != nil {
		return nil, err
	}
	t := &Tokenizer{tokens: map[int64]string{}, ids: map[string]int64{}, special: map[int64]bool{}, cleanup: true}
	if err := t.loadVocab(f.Model.Type, f.Model.Vocab); err != nil {
		return nil, err
	}
	for _, a := range f.AddedTokens {
		t.tokens[a.ID] = a.Content
		t.ids[a.Content] = a.ID
		if a.Special {
			t.special[a.ID] = true
		}
	}
	if len(f.Decoder) > 0 && string(f.Decoder) != "null" {
		d, err := parseDecoder(f.Decoder)
		if err != nil {
			return nil, err
		}
		t.decoders = d
	}
	if len(configJSON) > 0 {
		// transformers.js defaults clean_up_tokenization_spaces to true too.
		var c struct {
			Cleanup *bool `json:"clean_up_tokenization_spaces"`
		}
		if err := json.Unmarshal(configJSON, &c); err != nil {
			return nil, fmt.Errorf("tokenizer_config.json: %w", err)
		}
		if c.Cleanup != nil {
			t.cleanup = *c.Cleanup
		}
	}
	return t, nil
}

func (t *Tokenizer) loadVocab(kind string, raw json.RawMessage) error {
	switch kind {
	case "BPE", "WordLevel", "WordPiece", "":
		var v map[string]int64
		if err := json.Unmarshal(raw, &v); err != nil {
			if kind == "" {
				return t.loadVocab("Unigram", raw)
			}
			return fmt.Errorf("%s vocab: %w", kind, err)
		}
		for tok, id := range v {
			t.tokens[id] = tok
			t.ids[tok] = id
		}
	case "Unigram":
		var v [][2]json.RawMessage
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("Unigram vocab: %w", err)
		}
		for id, pair := range v {
			var tok string
			if err := json.Unmarshal(pair[0], &tok); err != nil {
				return fmt.Errorf("Unigram vocab entry %d: %w", id, err)
			}
			t.tokens[int64(id)] = tok
			t.ids[tok] = int64(id)
		}
	default:
		return fmt.Errorf("tokenizer model type %q is not supported", kind)
	}
	if len(t.tokens) == 0 {
		return errors.New("tokenizer vocabulary is empty")
	}
	return nil
}

// Decode turns ids into text like HF's decode(ids, skip_special_tokens=True),
// with clean_up_tokenization_spaces as tokenizer_config.json says, trimmed.
func (t *Tokenizer) Decode(ids []int64) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if t.special[id] {
			continue
		}
		if tok, ok := t.tokens[id]; ok {
			toks = append(toks, tok)
		}
	}
	var s string
	if t.decoders == nil {
		s = strings.Join(toks, " ")
	} else {
		for _, d := range t.decoders {
			toks = d(toks)
		}
		s = strings.Join(toks, "")
	}
	if t.cleanup {
		s = cleanUpTokenization(s)
	}
	return strings.TrimSpace(s)
}

// Token returns the vocabulary entry for id.
func (t *Tokenizer) Token(id int64) (string, bool) {
	s, ok := t.tokens[id]
	return s, ok
}

// ID returns the id of a vocabulary entry (in its raw form, e.g. "Ġdog").
func (t *Tokenizer) ID(token string) (int64, bool) {
	id, ok := t.ids[token]
	return id, ok
}

// IsSpecial reports whether id is a special added token.
func (t *Tokenizer) IsSpecial(id int64) bool { return t.special[id] }

// VocabSize is the number of known ids, added tokens included.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// cleanUpPairs are transformers' clean_up_tokenization replacements, applied
// one after another as it does.
var cleanUpPairs = [][2]string{
	{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
	{" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
}

func cleanUpTokenization(s string) string {
	for _, p := range cleanUpPairs {
		s = strings.ReplaceAll(s, p[0], p[1])
	}
	return s
}

func parseDecoder(raw json.RawMessage) ([]tokenDecoder, error) {
	var d decoderSpec
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	switch d.Type {
	case "Sequence":
		var out []tokenDecoder
		for _, sub := range d.Decoders {
			ds, err := parseDecoder(sub)
			if err != nil {
				return nil, err
			}
			out = append(out, ds...)
		}
		return out, nil
	case "ByteLevel":
		return []tokenDecoder{byteLevelDecode}, nil
	case "WordPiece":
		prefix := d.Prefix
		if prefix == "" {
			prefix = "##"
		}
		cleanup := d.Cleanup == nil || *d.Cleanup
		return []tokenDecoder{func(toks []string) []string {
			for i, tok := range toks {
				if i > 0 {
					if strings.HasPrefix(tok, prefix) {
						tok = tok[len(prefix):]
					} else {
						tok = " " + tok
					}
				}
				if cleanup {
					tok = cleanUpTokenization(tok)
				}
				toks[i] = tok
			}
			return toks
		}}, nil
	case "Metaspace":
		repl := d.Replacement
		if repl == "" {
			repl = "▁"
		}
		// Like tokenizers, the first token loses its replacement characters
		// instead of turning them into spaces.
		strip := d.PrependScheme != "never" && (d.AddPrefixSpace == nil || *d.AddPrefixSpace)
		return []tokenDecoder{func(toks []string) []string {
			for i, tok := range toks {
				if i == 0 && strip {
					toks[i] = strings.ReplaceAll(tok, repl, "")
				} else {
					toks[i] = strings.ReplaceAll(tok, repl, " ")
				}
			}
			return toks
		}}, nil
	case "Replace":
		var re *regexp.Regexp
		switch {
		case d.Pattern.String != nil:
			re = regexp.MustCompile(regexp.QuoteMeta(*d.Pattern.String))
		case d.Pattern.Regex != nil:
			var err error
			if re, err = regexp.Compile(*d.Pattern.Regex); err != nil {
				return nil, fmt.Errorf("Replace decoder: %w", err)
			}
		default:
			return nil, errors.New("Replace decoder has no pattern")
		}
		content := d.Content
		return []tokenDecoder{func(toks []string) []string {
			for i, tok := range toks {
				toks[i] = re.ReplaceAllLiteralString(tok, content)
			}
			return toks
		}}, nil
	case "ByteFallback":
		return []tokenDecoder{byteFallbackDecode}, nil
	case "Fuse":
		return []tokenDecoder{func(toks []string) []string { return []string{strings.Join(toks, "")} }}, nil
	case "Strip":
		content, start, stop := d.Content, d.Start, d.Stop
		return []tokenDecoder{func(toks []string) []string {
			for i, tok := range toks {
				for n := 0; n < start && content != "" && strings.HasPrefix(tok, content); n++ {
					tok = tok[len(content):]
				}
				for n := 0; n < stop && content != "" && strings.HasSuffix(tok, content); n++ {
					tok = tok[:len(tok)-len(content)]
				}
				toks[i] = tok
			}
			return toks
		}}, nil
	case "BPEDecoder":
		suffix := d.Suffix
		if suffix == "" {
			suffix = "</w>"
		}
		return []tokenDecoder{func(toks []string) []string {
			for i, tok := range toks {
				repl := " "
				if i == len(toks)-1 {
					repl = ""
				}
				toks[i] = strings.ReplaceAll(tok, suffix, repl)
			}
			return toks
		}}, nil
	}
	return nil, fmt.Errorf("tokenizer decoder type %q is not supported", d.Type)
}

// byteUnicode maps GPT-2's printable stand-in characters back to bytes.
var byteUnicode = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	extra := 0
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			m[rune(b)] = byte(b)
		} else {
			m[rune(256+extra)] = byte(b)
			extra++
		}
	}
	return m
}()

func byteLevelDecode(toks []string) []string {
	var buf []byte
	for _, tok := range toks {
		mapped := make([]byte, 0, len(tok))
		ok := true
		for _, r := range tok {
			b, found := byteUnicode[r]
			if !found {
				ok = false
				break
			}
			mapped = append(mapped, b)
		}
		if !ok {
			mapped = []byte(tok)
		}
		buf = append(buf, mapped...)
	}
	return []string{lossyUTF8(buf)}
}

// lossyUTF8 is Rust's from_utf8_lossy (and Python's errors="replace"): one
// U+FFFD per maximal invalid subsequence.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r != utf8.RuneError || size > 1 {
			sb.Write(b[:size])
			b = b[size:]
			continue
		}
		sb.WriteRune(utf8.RuneError)
		b = b[invalidPrefixLen(b):]
	}
	return sb.String()
}

// invalidPrefixLen is the length of the ill-formed sequence starting at b[0]:
// the lead byte plus the continuation bytes that could still have been valid.
func invalidPrefixLen(b []byte) int {
	lo, hi := byte(0x80), byte(0xBF)
	need := 0
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c == 0xED:
		need, hi = 2, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	}
	i := 1
	for ; i <= need && i < len(b) && b[i] >= lo && b[i] <= hi; i++ {
		lo, hi = 0x80, 0xBF
	}
	return i
}

// byteFallbackDecode turns runs of <0xNN> tokens into the bytes they stand for.
func byteFallbackDecode(toks []string) []string {
	var out []string
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, tok := range toks {
		if len(tok) == 6 && strings.HasPrefix(tok, "<0x") && strings.HasSuffix(tok, ">") {
			if b, err := strconv.ParseUint(tok[3:5], 16, 8); err == nil {
				pending = append(pending, byte(b))
				continue
			}
		}
		flush()
		out = append(out, tok)
	}
	flush()
	return out
}
