package jobs

import (
	"context"
	"errors"
	"image"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"captionai/engine"
	"captionai/inference"
	"captionai/testutil"
)

func attempt(n, of int) *river.Job[CaptionArgs] {
	return &river.Job[CaptionArgs]{JobRow: &rivertype.JobRow{Attempt: n, MaxAttempts: of}}
}

// tinyModel is the real random-weight model, through ONNX Runtime.
func tinyModel(t *testing.T) *inference.Model {
	t.Helper()
	m, err := inference.Open(inference.Options{Dir: testutil.TinyModel(t), LibPath: testutil.ORTLib(t), Sessions: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// ollama is an Ollama engine whose server answers every request with
// status and body, as Ollama's generate API does; with status 0 nothing
// listens at its address.
func ollama(t *testing.T, status int, body string) *engine.Engine {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	if status == 0 {
		srv.Close()
	} else {
		t.Cleanup(srv.Close)
	}
	e, err := engine.New(engine.Config{Kind: engine.Ollama, Model: "llava", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCaptionerByName(t *testing.T) {
	def, other := tinyModel(t), ollama(t, 0, "")
	w := &CaptionWorker{Model: def, Models: []Captioner{other}}
	for name, want := range map[string]Captioner{"": def, "tiny-random": def, "ollama:llava": other, "gpt-99": nil} {
		if got := w.captioner(name); got != want {
			t.Errorf("captioner(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestEngineFallback(t *testing.T) {
	builtin := tinyModel(t)
	pic := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range pic.Pix {
		pic.Pix[i] = uint8(i * 13)
	}
	own, err := builtin.Caption(context.Background(), pic)
	if err != nil {
		t.Fatal(err)
	}
	answer := `{"model":"llava","created_at":"2023-11-03T15:36:02.583064Z","response":"A cat on a mat.","done":true}`
	notFound := `{"error":"model 'llava' not found"}`
	cases := []struct {
		name      string
		eng       Captioner
		job       *river.Job[CaptionArgs]
		pixels    image.Image
		wantModel string
		wantText  string
		wantErr   string
	}{
		{"works", ollama(t, 200, answer), attempt(1, 5), pic, "ollama:llava", "A cat on a mat.", ""},
		// Unreachable: the built-in model at once, on any attempt.
		{"unreachable", ollama(t, 0, ""), attempt(1, 5), pic, "tiny-random (fallback: ollama:llava unreachable)", own.Text, ""},
		// Another engine error is River's to retry, until the last attempt.
		{"refused early", ollama(t, 404, notFound), attempt(1, 5), pic, "", "", "ollama:llava answered 404 Not Found: model 'llava' not found"},
		{"refused last", ollama(t, 404, notFound), attempt(5, 5), pic, "tiny-random (fallback: ollama:llava failed)", own.Text, ""},
		// A built-in model's error is never covered for.
		{"not an engine", builtin, attempt(5, 5), nil, "tiny-random", "", "inference: nil image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &CaptionWorker{Model: c.eng, Fallback: builtin, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			res, model, err := w.caption(context.Background(), c.job, c.eng, c.pixels)
			if got := errText(err); got != c.wantErr {
				t.Fatalf("err %q, want %q", got, c.wantErr)
			}
			if err != nil {
				return
			}
			if model != c.wantModel || res.Text != c.wantText {
				t.Errorf("model %q, text %q; want %q, %q", model, res.Text, c.wantModel, c.wantText)
			}
		})
	}

	// A cancelled job (shutdown, JOB_TIMEOUT) goes back to River as it is,
	// without the fallback's name.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	eng := ollama(t, 0, "")
	w := &CaptionWorker{Model: eng, Fallback: builtin}
	_, model, err := w.caption(ctx, attempt(1, 5), eng, pic)
	if !errors.Is(err, context.Canceled) && !errors.Is(err, engine.ErrUnreachable) {
		t.Errorf("cancelled: err %v", err)
	}
	if model != "ollama:llava" {
		t.Errorf("cancelled: model %q, want the engine's own name", model)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
