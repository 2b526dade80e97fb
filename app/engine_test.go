package app_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"captionai/config"
	"captionai/testutil"
	"captionai/vocab"
)

// fakeEngine plays an engine at its documented endpoint (the wire format
// itself is checked in engine/): it answers answer, shaped as that API
// answers, and records what it was sent.
type fakeEngine struct {
	*httptest.Server
	mu    sync.Mutex
	auth  []string
	calls int
}

func newFakeEngine(t *testing.T, kind, answer string) *fakeEngine {
	f := &fakeEngine{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Images   []string
			Messages []struct {
				Content []struct {
					ImageURL struct{ URL string } `json:"image_url"`
				}
			}
		}
		json.NewDecoder(r.Body).Decode(&body)
		var pic string
		var reply any
		switch {
		case kind == "ollama" && r.URL.Path == "/api/generate" && len(body.Images) == 1:
			pic = body.Images[0]
			reply = map[string]any{"model": "llava", "created_at": "2023-11-03T15:36:02.583064Z", "response": answer, "done": true}
		case kind == "openai" && r.URL.Path == "/v1/chat/completions" && len(body.Messages) == 1 && len(body.Messages[0].Content) == 2:
			pic = strings.TrimPrefix(body.Messages[0].Content[1].ImageURL.URL, "data:image/jpeg;base64,")
			reply = map[string]any{"id": "chatcmpl-1", "object": "chat.completion", "created": 1741570283, "model": "gpt-4o-mini",
				"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
					"message": map[string]any{"role": "assistant", "content": answer, "refusal": nil}}}}
		default:
			t.Errorf("%s engine got %s %s", kind, r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
			return
		}
		data, _ := base64.StdEncoding.DecodeString(pic)
		if _, err := jpeg.DecodeConfig(bytes.NewReader(data)); err != nil {
			t.Errorf("%s engine was not sent a JPEG: %v", kind, err)
		}
		f.mu.Lock()
		f.calls++
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(reply)
	}))
	t.Cleanup(f.Close)
	return f
}

func withEngine(kind, url, model string) func(*config.Config) {
	return func(c *config.Config) {
		c.EngineKind, c.EngineURL, c.EngineModel, c.EngineTimeout = kind, url, model, 5*time.Second
		c.EngineKey = "sk-test"
	}
}

// captionedBy uploads a photo as owner, waits for its caption and returns
// its JSON form and its page.
func captionedBy(t *testing.T, s *server, owner *testutil.Visitor) (imageJSON, string) {
	t.Helper()
	id := owner.MustUpload(vocab.Public)
	events(t, s.URL+"/images/"+id+"/events", 30*time.Second)
	got := getJSON(t, s.URL+"/images/"+id)
	if got.Status != vocab.Captioned || got.Caption == nil || got.Model == nil {
		t.Fatalf("json = %+v", got)
	}
	code, page := owner.Get("/images/" + id)
	if code != http.StatusOK {
		t.Fatalf("image page: %d", code)
	}
	return got, page
}

func TestEngineOllamaCaptions(t *testing.T) {
	t.Parallel()
	ollama := newFakeEngine(t, "ollama", " A brown dog runs along the beach.\n")
	s := start(t, opts{roles: both, tweak: withEngine("ollama", ollama.URL, "llava")})
	owner := visitor(t, s.URL)
	owner.Signup("owner@example.com", "owner password")

	got, page := captionedBy(t, s, owner)
	if *got.Caption != "A brown dog runs along the beach." || *got.Model != "ollama:llava" {
		t.Errorf("caption %q by %q", *got.Caption, *got.Model)
	}
	if !strings.Contains(page, "<dd>ollama:llava</dd>") {
		t.Error("the page does not name the engine")
	}
	// An engine reports no encoder and decoder times: none are shown.
	if strings.Contains(page, "(encoder ") {
		t.Error("the page shows encoder and decoder times for an engine's caption")
	}
	// The engine and the built-in model are both offered for a new caption.
	if !strings.Contains(page, `<option value="ollama:llava">`) || !strings.Contains(page, `<option value="tiny-random">`) {
		t.Error("the page offers no choice of model")
	}
	if ollama.auth[0] != "" {
		t.Errorf("Ollama was sent Authorization %q", ollama.auth[0])
	}
}

func TestEngineOpenAICaptions(t *testing.T) {
	t.Parallel()
	openai := newFakeEngine(t, "openai", "A child jumps into a pool.")
	s := start(t, opts{roles: both, tweak: withEngine("openai", openai.URL, "gpt-4o-mini")})
	owner := visitor(t, s.URL)
	owner.Signup("owner@example.com", "owner password")

	got, page := captionedBy(t, s, owner)
	if *got.Caption != "A child jumps into a pool." || *got.Model != "openai:gpt-4o-mini" {
		t.Errorf("caption %q by %q", *got.Caption, *got.Model)
	}
	if !strings.Contains(page, "<dd>openai:gpt-4o-mini</dd>") {
		t.Error("the page does not name the engine")
	}
	if openai.auth[0] != "Bearer sk-test" {
		t.Errorf("Authorization %q", openai.auth[0])
	}
}

// With the engine down, the built-in model writes the caption at once and
// the page says it stood in.
func TestEngineDownFallsBack(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // connection refused
	s := start(t, opts{roles: both, tweak: withEngine("ollama", down.URL, "llava")})
	owner := visitor(t, s.URL)
	owner.Signup("owner@example.com", "owner password")

	began := time.Now()
	got, page := captionedBy(t, s, owner)
	const want = "tiny-random (fallback: ollama:llava unreachable)"
	if *got.Model != want || *got.Caption == "" {
		t.Errorf("caption %q by %q, want by %q", *got.Caption, *got.Model, want)
	}
	if !strings.Contains(page, "<dd>"+htmlEscape(want)+"</dd>") {
		t.Error("the page does not name the fallback")
	}
	// At once: not after River's retries.
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("the fallback caption took %s", took)
	}
}

// With two MODELS, the owner may ask a new caption of either.
func TestEngineModelsRegenerate(t *testing.T) {
	t.Parallel()
	flickr := filepath.Join(testutil.RepoRoot(t), "models", "captionai-flickr8k")
	s := start(t, opts{roles: both, tweak: func(c *config.Config) {
		c.ModelDir = flickr
		c.Models = []string{flickr, testutil.TinyModel(t)}
	}})
	owner := visitor(t, s.URL)
	owner.Signup("owner@example.com", "owner password")

	id := owner.MustUpload(vocab.Public)
	events(t, s.URL+"/images/"+id+"/events", 30*time.Second)
	if got := getJSON(t, s.URL+"/images/"+id); got.Model == nil || *got.Model != "captionai-flickr8k" {
		t.Fatalf("first caption: %+v", got)
	}
	_, page := owner.Get("/images/" + id)
	if !strings.Contains(page, `<select name="model"><option value="captionai-flickr8k">captionai-flickr8k</option><option value="tiny-random">tiny-random</option></select>`) {
		t.Errorf("no choice of the two models on the page")
	}

	if code, _, _ := owner.Form("/images/"+id+"/regenerate", url.Values{"model": {"gpt-99"}}); code != http.StatusUnprocessableEntity {
		t.Errorf("unknown model: %d", code)
	}
	if code, _, _ := owner.Form("/images/"+id+"/regenerate", url.Values{"model": {"tiny-random"}}); code != http.StatusSeeOther {
		t.Fatalf("regenerate: %d", code)
	}
	events(t, s.URL+"/images/"+id+"/events", 30*time.Second)
	if got := getJSON(t, s.URL+"/images/"+id); got.Status != vocab.Captioned || got.Model == nil || *got.Model != "tiny-random" {
		t.Fatalf("after regenerate with tiny-random: %+v", got)
	}
	var models []string
	rows, err := s.app.Pool.Query(t.Context(), `SELECT model FROM caption_versions WHERE image_id = $1::uuid ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var m string
		rows.Scan(&m)
		models = append(models, m)
	}
	if strings.Join(models, " ") != "captionai-flickr8k tiny-random" {
		t.Errorf("caption history by %q", models)
	}
}
