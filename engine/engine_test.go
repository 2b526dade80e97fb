package engine_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"captionai/engine"
)

// No live engine is reachable from the tests: these servers check each
// request against the documented shapes and answer as the documentation
// shows (OpenAI API reference, "Create chat completion" with an image
// input; Ollama docs/api.md, "Generate a completion" with images and
// "stream": false; both APIs' error bodies).

// openAIAnswer is a chat.completion object as the reference shows it.
const openAIAnswer = `{
  "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
  "object": "chat.completion",
  "created": 1741570283,
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "A brown dog runs along the beach.",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 1117,
    "completion_tokens": 9,
    "total_tokens": 1126,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  },
  "service_tier": "default",
  "system_fingerprint": "fp_06737a9306"
}`

// ollamaAnswer is /api/generate's single object when stream is false.
const ollamaAnswer = `{
  "model": "llava",
  "created_at": "2023-11-03T15:36:02.583064Z",
  "response": " A brown dog runs along the beach.\n",
  "done": true,
  "done_reason": "stop",
  "context": [1, 2, 3],
  "total_duration": 2938432250,
  "load_duration": 2559292,
  "prompt_eval_count": 1,
  "prompt_eval_duration": 2195557000,
  "eval_count": 44,
  "eval_duration": 736432000
}`

func picture(w, h int) image.Image {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	return m
}

// seen is one request as the test server received it.
type seen struct {
	method, path string
	header       http.Header
	body         map[string]any
}

// server answers every request with status and body, and records it.
func server(t *testing.T, status int, body string) (*httptest.Server, *seen) {
	t.Helper()
	got := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path, got.header = r.Method, r.URL.Path, r.Header.Clone()
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &got.body); err != nil {
			t.Errorf("request body is not a JSON object: %v: %.200s", err, data)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func newEngine(t *testing.T, c engine.Config) *engine.Engine {
	t.Helper()
	e, err := engine.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// jpegSize decodes base64 JPEG data and returns its size.
func jpegSize(t *testing.T, b64 string) (int, int) {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("image is not base64: %v", err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("image is not a JPEG: %v", err)
	}
	return cfg.Width, cfg.Height
}

// path walks decoded JSON: strings index objects, ints arrays.
func path(t *testing.T, v any, keys ...any) any {
	t.Helper()
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("no object for %q in %v", k, v)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("no element %d in %v", k, v)
			}
			v = a[k]
		}
	}
	return v
}

func TestOpenAIRequestAndAnswer(t *testing.T) {
	srv, got := server(t, 200, openAIAnswer)
	// A base URL with /v1 on it reaches the same endpoint.
	for _, base := range []string{srv.URL, srv.URL + "/v1/"} {
		e := newEngine(t, engine.Config{Kind: engine.OpenAI, URL: base, Model: "gpt-4o-mini", Key: "sk-test", Prompt: "Describe it."})
		res, err := e.Caption(context.Background(), picture(2048, 1024))
		if err != nil {
			t.Fatal(err)
		}
		if res.Text != "A brown dog runs along the beach." || res.Total <= 0 {
			t.Errorf("result %+v", res)
		}
		if e.Name() != "openai:gpt-4o-mini" {
			t.Errorf("name %q", e.Name())
		}
		if got.method != "POST" || got.path != "/v1/chat/completions" {
			t.Errorf("%s %s, want POST /v1/chat/completions", got.method, got.path)
		}
		if a := got.header.Get("Authorization"); a != "Bearer sk-test" {
			t.Errorf("Authorization %q", a)
		}
		if ct := got.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		b := got.body
		if b["model"] != "gpt-4o-mini" || b["max_tokens"] != float64(100) {
			t.Errorf("model %v, max_tokens %v", b["model"], b["max_tokens"])
		}
		if path(t, b, "messages", 0, "role") != "user" || len(path(t, b, "messages").([]any)) != 1 {
			t.Errorf("messages %v", b["messages"])
		}
		if path(t, b, "messages", 0, "content", 0, "type") != "text" || path(t, b, "messages", 0, "content", 0, "text") != "Describe it." {
			t.Errorf("text part %v", path(t, b, "messages", 0, "content", 0))
		}
		if path(t, b, "messages", 0, "content", 1, "type") != "image_url" {
			t.Errorf("image part %v", path(t, b, "messages", 0, "content", 1))
		}
		url, _ := path(t, b, "messages", 0, "content", 1, "image_url", "url").(string)
		data, ok := strings.CutPrefix(url, "data:image/jpeg;base64,")
		if !ok {
			t.Fatalf("image url %.60q is not a JPEG data URL", url)
		}
		// The longest side is cut to 1024 px, the aspect kept.
		if w, h := jpegSize(t, data); w != 1024 || h != 512 {
			t.Errorf("image sent is %d×%d, want 1024×512", w, h)
		}
	}
}

func TestOllamaRequestAndAnswer(t *testing.T) {
	srv, got := server(t, 200, ollamaAnswer)
	e := newEngine(t, engine.Config{Kind: engine.Ollama, URL: srv.URL + "/", Model: "llava", Key: "not for ollama"})
	res, err := e.Caption(context.Background(), picture(64, 1500))
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "A brown dog runs along the beach." || e.Name() != "ollama:llava" {
		t.Errorf("result %+v from %s", res, e.Name())
	}
	if got.method != "POST" || got.path != "/api/generate" {
		t.Errorf("%s %s, want POST /api/generate", got.method, got.path)
	}
	if a := got.header.Get("Authorization"); a != "" {
		t.Errorf("Ollama was sent Authorization %q", a)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	b := got.body
	if b["model"] != "llava" || b["prompt"] != engine.DefaultPrompt {
		t.Errorf("model %v, prompt %v", b["model"], b["prompt"])
	}
	// stream must be there and false, or Ollama streams NDJSON.
	if s, ok := b["stream"]; !ok || s != false {
		t.Errorf("stream %v (present %v), want false", s, ok)
	}
	if path(t, b, "options", "num_predict") != float64(100) {
		t.Errorf("options %v", b["options"])
	}
	images, _ := b["images"].([]any)
	if len(images) != 1 {
		t.Fatalf("images %v", b["images"])
	}
	data, _ := images[0].(string)
	if strings.HasPrefix(data, "data:") {
		t.Fatalf("Ollama wants bare base64, got %.40q", data)
	}
	if w, h := jpegSize(t, data); w != 43 || h != 1024 {
		t.Errorf("image sent is %d×%d, want 43×1024", w, h)
	}
}

func TestSmallImageKeepsItsSize(t *testing.T) {
	srv, got := server(t, 200, ollamaAnswer)
	e := newEngine(t, engine.Config{Kind: engine.Ollama, URL: srv.URL, Model: "llava"})
	if _, err := e.Caption(context.Background(), picture(64, 48)); err != nil {
		t.Fatal(err)
	}
	if w, h := jpegSize(t, path(t, got.body, "images", 0).(string)); w != 64 || h != 48 {
		t.Errorf("image sent is %d×%d, want 64×48", w, h)
	}
}

// checkErr checks that err is an *engine.Error, unreachable or not, whose
// message holds each of want.
func checkErr(t *testing.T, err error, unreachable bool, want ...string) {
	t.Helper()
	var ee *engine.Error
	if !errors.As(err, &ee) {
		t.Fatalf("error %v (%T) is not an *engine.Error", err, err)
	}
	if errors.Is(err, engine.ErrUnreachable) != unreachable {
		t.Errorf("%q: unreachable %v, want %v", err, !unreachable, unreachable)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func TestErrorAnswers(t *testing.T) {
	cases := []struct {
		name        string
		kind        string
		status      int
		body        string
		unreachable bool
		want        []string
	}{
		{"openai bad key", engine.OpenAI, 401,
			`{"error": {"message": "Incorrect API key provided: sk-test. You can find your API key at https://platform.openai.com/account/api-keys.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}`,
			false, []string{"openai:m answered 401 Unauthorized", "Incorrect API key provided"}},
		{"openai unknown model", engine.OpenAI, 404,
			`{"error": {"message": "The model 'm' does not exist or you do not have access to it.", "type": "invalid_request_error", "param": null, "code": "model_not_found"}}`,
			false, []string{"404", "does not exist"}},
		{"ollama unknown model", engine.Ollama, 404, `{"error": "model 'm' not found"}`,
			false, []string{"ollama:m answered 404 Not Found", "model 'm' not found"}},
		{"ollama bad request", engine.Ollama, 400, `{"error": "invalid character '}' looking for beginning of value"}`,
			false, []string{"400", "invalid character"}},
		{"openai rate limit", engine.OpenAI, 429,
			`{"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}`,
			true, []string{"429", "Rate limit reached"}},
		{"openai overloaded", engine.OpenAI, 503,
			`{"error": {"message": "The engine is currently overloaded, please try again later", "type": "server_error", "param": null, "code": null}}`,
			true, []string{"503", "overloaded"}},
		{"ollama server error", engine.Ollama, 500, `{"error": "the model failed to generate a response"}`,
			true, []string{"500", "the model failed to generate a response"}},
		{"proxy page", engine.Ollama, 502, "<html><body>Bad Gateway</body></html>",
			true, []string{"502", "Bad Gateway"}},
		// A 200 without a caption is the engine's answer, not an outage.
		{"openai no choices", engine.OpenAI, 200, `{"id": "x", "object": "chat.completion", "choices": []}`,
			false, []string{"no choices"}},
		{"openai refusal", engine.OpenAI, 200, `{"choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}, "finish_reason": "stop"}]}`,
			false, []string{"refused", "I can't help with that."}},
		{"ollama empty", engine.Ollama, 200, `{"model": "m", "response": "  \n", "done": true}`,
			false, []string{"empty caption"}},
		{"ollama not json", engine.Ollama, 200, `not json`,
			false, []string{"no response"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, _ := server(t, c.status, c.body)
			e := newEngine(t, engine.Config{Kind: c.kind, URL: srv.URL, Model: "m"})
			_, err := e.Caption(context.Background(), picture(8, 8))
			checkErr(t, err, c.unreachable, c.want...)
		})
	}
}

func TestConnectionRefusedIsUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	e := newEngine(t, engine.Config{Kind: engine.Ollama, URL: url, Model: "llava"})
	_, err := e.Caption(context.Background(), picture(8, 8))
	checkErr(t, err, true, "ollama:llava unreachable", "connection refused")
}

func TestSlowEngineTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client going
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	e := newEngine(t, engine.Config{Kind: engine.OpenAI, URL: srv.URL, Model: "m", Timeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := e.Caption(context.Background(), picture(8, 8))
	checkErr(t, err, true, "no answer within 100ms")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s", took)
	}

	// The caller's own deadline is not the engine's fault: it comes back
	// as the context's error, for River to retry.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	e = newEngine(t, engine.Config{Kind: engine.OpenAI, URL: srv.URL, Model: "m", Timeout: time.Minute})
	_, err = e.Caption(ctx, picture(8, 8))
	var ee *engine.Error
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ee) {
		t.Errorf("caller's deadline: %v (%T)", err, err)
	}
}

func TestCaptionIsTidied(t *testing.T) {
	long := strings.Repeat("word ", 100)
	for answer, want := range map[string]string{
		"\"A dog runs.\"\n":       "A dog runs.",
		"“A  dog\n runs.” ":       "A dog runs.",
		`"`:                       `"`,
		long:                      strings.TrimSpace(long[:300]),
		"  A cat sleeps. \n\n ok": "A cat sleeps. ok",
	} {
		body, _ := json.Marshal(map[string]any{"model": "m", "response": answer, "done": true})
		srv, _ := server(t, 200, string(body))
		e := newEngine(t, engine.Config{Kind: engine.Ollama, URL: srv.URL, Model: "m"})
		res, err := e.Caption(context.Background(), picture(8, 8))
		if err != nil {
			t.Fatal(err)
		}
		if res.Text != want {
			t.Errorf("%.40q became %.40q, want %.40q", answer, res.Text, want)
		}
	}
}

func TestNewChecksConfig(t *testing.T) {
	for _, c := range []engine.Config{
		{Kind: "claude", URL: "https://x", Model: "m"},
		{Kind: engine.OpenAI, URL: "https://x"},
		{Kind: engine.OpenAI, URL: "ftp://x", Model: "m"},
		{Kind: engine.Ollama, URL: "localhost:11434", Model: "m"},
	} {
		if _, err := engine.New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
