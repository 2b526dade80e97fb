// Package engine captions images with a remote vision-language model: an
// OpenAI-compatible chat completions API or Ollama's generate API. An
// Engine is a jobs.Captioner; its errors say whether the engine was
// unreachable, so a worker can fall back to a built-in model at once.
package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/image/draw"

	"captionai/inference"
)

// The kinds of engine.
const (
	OpenAI = "openai" // POST {URL}/v1/chat/completions
	Ollama = "ollama" // POST {URL}/api/generate
)

// DefaultPrompt is what the engine is asked when Config.Prompt is empty.
const DefaultPrompt = "One sentence, active voice, main subject first."

const (
	maxSide     = 1024 // longest side of the JPEG sent
	jpegQuality = 85
	maxTokens   = 100     // one sentence, with room to spare
	maxAnswer   = 1 << 20 // bytes of a response body read
	maxCaption  = 300     // runes kept, the app's caption limit
)

// Config says which engine to call and how.
type Config struct {
	Kind    string        // OpenAI or Ollama
	URL     string        // base URL, e.g. https://api.openai.com or http://localhost:11434
	Model   string        // e.g. gpt-4o-mini or llava
	Prompt  string        // empty: DefaultPrompt
	Key     string        // sent as a Bearer token to OpenAI; Ollama gets none
	Timeout time.Duration // for one caption; zero: 30s
	Client  *http.Client  // nil: http.DefaultClient (the context bounds each call)
}

// Name is how captions by this engine are labelled: "openai:MODEL" or
// "ollama:MODEL".
func (c Config) Name() string { return c.Kind + ":" + c.Model }

// Engine is a remote captioner, safe for concurrent use.
type Engine struct {
	c        Config
	endpoint string
}

// New checks c; it does not call the engine.
func New(c Config) (*Engine, error) {
	if c.Kind != OpenAI && c.Kind != Ollama {
		return nil, fmt.Errorf("engine: unknown kind %q (want %s or %s)", c.Kind, OpenAI, Ollama)
	}
	if c.Model == "" {
		return nil, errors.New("engine: no model given")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("engine: %q is not an http or https URL", c.URL)
	}
	if c.Prompt == "" {
		c.Prompt = DefaultPrompt
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Client == nil {
		c.Client = http.DefaultClient
	}
	base := strings.TrimRight(c.URL, "/")
	e := &Engine{c: c}
	if c.Kind == OpenAI {
		// Base URLs are often given with the version already on them.
		e.endpoint = strings.TrimSuffix(base, "/v1") + "/v1/chat/completions"
	} else {
		e.endpoint = base + "/api/generate"
	}
	return e, nil
}

func (e *Engine) Name() string { return e.c.Name() }

// ErrUnreachable matches (errors.Is) an Error whose engine could not be
// reached or did not answer in time.
var ErrUnreachable = errors.New("engine unreachable")

// Error is a failed call to the engine.
type Error struct {
	Engine string // its Name
	Status int    // the HTTP status; 0 when there was no answer
	// Unreachable: no connection, no answer within the timeout, or a
	// 5xx, 408 or 429 answer. Anything else (another 4xx, an answer
	// without a caption) is what the engine made of the request.
	Unreachable bool
	Msg         string
}

func (e *Error) Error() string {
	switch {
	case e.Status != 0:
		return fmt.Sprintf("%s answered %d %s: %s", e.Engine, e.Status, http.StatusText(e.Status), e.Msg)
	case e.Unreachable:
		return e.Engine + " unreachable: " + e.Msg
	}
	return e.Engine + ": " + e.Msg
}

func (e *Error) Is(target error) bool { return target == ErrUnreachable && e.Unreachable }

// Caption sends img, as a JPEG, with the prompt and returns the answer.
// Only Total is timed: the engine does not report its stages.
func (e *Engine) Caption(ctx context.Context, img image.Image) (inference.Result, error) {
	start := time.Now()
	pic, err := encodeJPEG(img)
	if err != nil {
		return inference.Result{}, fmt.Errorf("%s: encoding the image: %w", e.Name(), err)
	}
	body, err := json.Marshal(e.request(base64.StdEncoding.EncodeToString(pic)))
	if err != nil {
		return inference.Result{}, err
	}

	cctx, cancel := context.WithTimeout(ctx, e.c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, e.endpoint, bytes.NewReader(body))
	if err != nil {
		return inference.Result{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if e.c.Kind == OpenAI && e.c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+e.c.Key)
	}
	res, err := e.c.Client.Do(req)
	if err != nil {
		return inference.Result{}, e.noAnswer(ctx, cctx, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return inference.Result{}, e.noAnswer(ctx, cctx, err)
	}
	if res.StatusCode != http.StatusOK {
		s := res.StatusCode
		return inference.Result{}, &Error{Engine: e.Name(), Status: s, Msg: errorMessage(data),
			Unreachable: s >= 500 || s == http.StatusRequestTimeout || s == http.StatusTooManyRequests}
	}
	text, err := e.answer(data)
	if err != nil {
		return inference.Result{}, &Error{Engine: e.Name(), Msg: err.Error()}
	}
	return inference.Result{Text: text, Total: time.Since(start)}, nil
}

// noAnswer is the error for a call that got no (whole) answer. The
// caller's own deadline or cancellation is returned as it is: that is the
// job's timeout or a shutdown, not the engine's fault.
func (e *Engine) noAnswer(ctx, cctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	msg := err.Error()
	if cctx.Err() != nil {
		msg = fmt.Sprintf("no answer within %s", e.c.Timeout)
	}
	return &Error{Engine: e.Name(), Unreachable: true, Msg: msg}
}

// The request bodies, as the OpenAI API reference (create chat completion,
// image input as a data URL) and Ollama's API docs (generate a
// completion, with images, no streaming) give them.
type (
	chatRequest struct {
		Model     string        `json:"model"`
		Messages  []chatMessage `json:"messages"`
		MaxTokens int           `json:"max_tokens"`
	}
	chatMessage struct {
		Role    string     `json:"role"`
		Content []chatPart `json:"content"`
	}
	chatPart struct {
		Type     string    `json:"type"`
		Text     string    `json:"text,omitempty"`
		ImageURL *imageURL `json:"image_url,omitempty"`
	}
	imageURL struct {
		URL string `json:"url"`
	}
	generateRequest struct {
		Model   string          `json:"model"`
		Prompt  string          `json:"prompt"`
		Images  []string        `json:"images"`
		Stream  bool            `json:"stream"`
		Options generateOptions `json:"options"`
	}
	generateOptions struct {
		NumPredict int `json:"num_predict"`
	}
)

func (e *Engine) request(b64 string) any {
	if e.c.Kind == Ollama {
		return generateRequest{Model: e.c.Model, Prompt: e.c.Prompt, Images: []string{b64},
			Options: generateOptions{NumPredict: maxTokens}}
	}
	return chatRequest{Model: e.c.Model, MaxTokens: maxTokens, Messages: []chatMessage{{Role: "user", Content: []chatPart{
		{Type: "text", Text: e.c.Prompt},
		{Type: "image_url", ImageURL: &imageURL{URL: "data:image/jpeg;base64," + b64}},
	}}}}
}

// answer reads the caption from a 200 response: choices[0].message.content
// (OpenAI) or response (Ollama).
func (e *Engine) answer(data []byte) (string, error) {
	var text string
	if e.c.Kind == Ollama {
		var r struct {
			Response *string `json:"response"`
		}
		if err := json.Unmarshal(data, &r); err != nil || r.Response == nil {
			return "", fmt.Errorf("the answer has no response: %s", snippet(data))
		}
		text = *r.Response
	} else {
		var r struct {
			Choices []struct {
				Message struct {
					Content *string `json:"content"`
					Refusal *string `json:"refusal"`
				} `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(data, &r); err != nil || len(r.Choices) == 0 {
			return "", fmt.Errorf("the answer has no choices: %s", snippet(data))
		}
		m := r.Choices[0].Message
		if m.Refusal != nil && *m.Refusal != "" {
			return "", fmt.Errorf("the model refused: %s", *m.Refusal)
		}
		if m.Content == nil {
			return "", fmt.Errorf("the answer has no message content: %s", snippet(data))
		}
		text = *m.Content
	}
	if text = tidy(text); text == "" {
		return "", errors.New("the answer is an empty caption")
	}
	return text, nil
}

// tidy makes an answer a one-line caption: whitespace collapsed, quotes
// around it dropped, at most maxCaption runes (cut at a word).
func tidy(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for _, q := range [][2]string{{`"`, `"`}, {"“", "”"}} {
		if len(s) >= len(q[0])+len(q[1]) && strings.HasPrefix(s, q[0]) && strings.HasSuffix(s, q[1]) {
			s = strings.TrimSpace(s[len(q[0]) : len(s)-len(q[1])])
		}
	}
	if utf8.RuneCountInString(s) > maxCaption {
		s = string([]rune(s)[:maxCaption])
		if i := strings.LastIndex(s, " "); i > 0 {
			s = s[:i]
		}
	}
	return s
}

// errorMessage reads an error body: {"error": {"message": ...}} (OpenAI)
// or {"error": "..."} (Ollama); otherwise the start of the body.
func errorMessage(data []byte) string {
	var r struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &r) == nil && len(r.Error) > 0 {
		var s string
		if json.Unmarshal(r.Error, &s) == nil && s != "" {
			return s
		}
		var o struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(r.Error, &o) == nil && o.Message != "" {
			return o.Message
		}
	}
	if s := snippet(data); s != "" {
		return s
	}
	return "no error message"
}

// snippet is the start of a body, on one line, for error messages.
func snippet(data []byte) string {
	s := strings.Join(strings.Fields(string(data)), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// encodeJPEG re-encodes img as a JPEG whose longest side is at most
// maxSide, so the request stays small (a few MB at most) whatever was
// uploaded.
func encodeJPEG(img image.Image) ([]byte, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, errors.New("empty image")
	}
	if w > maxSide || h > maxSide {
		nw, nh := maxSide, max(1, h*maxSide/w)
		if h > w {
			nw, nh = max(1, w*maxSide/h), maxSide
		}
		dst := image.NewRGBA(image.Rect(0, 0, nw, nh))
		draw.BiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
		img = dst
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
