package jobs

import (
	"context"
	"errors"
	"image"
	"io"
	"log/slog"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"captionai/engine"
	"captionai/inference"
)

// fake is a captioner that answers text, or fails with err.
type fake struct {
	name, text string
	err        error
	calls      int
}

func (f *fake) Caption(context.Context, image.Image) (inference.Result, error) {
	f.calls++
	return inference.Result{Text: f.text}, f.err
}

func (f *fake) Name() string { return f.name }

func attempt(n, of int) *river.Job[CaptionArgs] {
	return &river.Job[CaptionArgs]{JobRow: &rivertype.JobRow{Attempt: n, MaxAttempts: of}}
}

func TestCaptionerByName(t *testing.T) {
	def, other := &fake{name: "captionai-flickr8k"}, &fake{name: "tiny-random"}
	w := &CaptionWorker{Model: def, Models: []Captioner{other}}
	for name, want := range map[string]Captioner{"": def, "captionai-flickr8k": def, "tiny-random": other, "gpt-99": nil} {
		if got := w.captioner(name); got != want {
			t.Errorf("captioner(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestEngineFallback(t *testing.T) {
	down := &engine.Error{Engine: "ollama:llava", Unreachable: true, Msg: "connection refused"}
	refused := &engine.Error{Engine: "ollama:llava", Status: 404, Msg: "model 'llava' not found"}
	cases := []struct {
		name      string
		err       error
		job       *river.Job[CaptionArgs]
		wantModel string
		wantErr   error
	}{
		{"works", nil, attempt(1, 5), "ollama:llava", nil},
		// Unreachable: the built-in model at once, on any attempt.
		{"unreachable", down, attempt(1, 5), "captionai-flickr8k (fallback: ollama:llava unreachable)", nil},
		// Another engine error is River's to retry, until the last attempt.
		{"refused early", refused, attempt(1, 5), "", refused},
		{"refused last", refused, attempt(5, 5), "captionai-flickr8k (fallback: ollama:llava failed)", nil},
		// A built-in model's error is never covered for.
		{"not an engine", errors.New("onnx broke"), attempt(5, 5), "ollama:llava", errors.New("onnx broke")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eng := &fake{name: "ollama:llava", text: "from the engine", err: c.err}
			builtin := &fake{name: "captionai-flickr8k", text: "from the model"}
			w := &CaptionWorker{Model: eng, Fallback: builtin, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			res, model, err := w.caption(context.Background(), c.job, eng, image.NewRGBA(image.Rect(0, 0, 1, 1)))
			if (err == nil) != (c.wantErr == nil) || (err != nil && err.Error() != c.wantErr.Error()) {
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			if model != c.wantModel {
				t.Errorf("model %q, want %q", model, c.wantModel)
			}
			wantText := "from the engine"
			if builtin.calls > 0 {
				wantText = "from the model"
			}
			if res.Text != wantText {
				t.Errorf("text %q, want %q", res.Text, wantText)
			}
		})
	}

	// A cancelled job (shutdown, JOB_TIMEOUT) goes back to River as it is.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	builtin := &fake{name: "captionai-flickr8k"}
	w := &CaptionWorker{Model: &fake{}, Fallback: builtin}
	eng := &fake{name: "ollama:llava", err: down}
	if _, _, err := w.caption(ctx, attempt(1, 5), eng, nil); err != down || builtin.calls != 0 {
		t.Errorf("cancelled: %v, fallback called %d times", err, builtin.calls)
	}
}
