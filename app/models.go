package app

import (
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"captionai/config"
	"captionai/engine"
	"captionai/inference"
	"captionai/jobs"
)

// extraCaptioners are a worker's captioners besides MODEL_DIR's model:
// the other MODELS and the remote engine.
type extraCaptioners struct {
	models []*inference.Model
	engine *engine.Engine // nil without CAPTION_ENGINE_URL
}

// loadExtraCaptioners loads MODELS past the first (which stands for
// MODEL_DIR) after LoadModel has loaded ONNX Runtime, and sets up the
// engine. On an error nothing stays loaded.
func loadExtraCaptioners(cfg config.Config, log *slog.Logger) (extraCaptioners, error) {
	var x extraCaptioners
	def := modelName(cfg.ModelDir)
	for _, dir := range extraModelDirs(cfg) {
		start := time.Now()
		m, err := inference.Open(inference.Options{Dir: dir, LibPath: cfg.ORTLib, Sessions: cfg.Workers, Threads: cfg.ThreadsPerJob})
		if err != nil {
			x.close()
			return extraCaptioners{}, fmt.Errorf("loading the model in %s (MODELS): %w\n"+
				"each folder of MODELS must hold a captioning model exported in the Optimum layout", dir, err)
		}
		x.models = append(x.models, m)
		log.Info("model loaded", "model", m.Name(), "default", def, "sessions", cfg.Workers, "took", time.Since(start).Round(time.Millisecond))
	}
	if cfg.EngineKind != "" {
		e, err := engine.New(engineConfig(cfg))
		if err != nil {
			x.close()
			return extraCaptioners{}, fmt.Errorf("CAPTION_ENGINE_URL: %w", err)
		}
		x.engine = e
		u, _ := url.Parse(cfg.EngineURL) // parsed by config already
		log.Info("caption engine set", "engine", e.Name(), "url", u.Redacted(), "timeout", cfg.EngineTimeout, "fallback", def)
	}
	return x, nil
}

// others are the extra models as the worker takes them.
func (x extraCaptioners) others() []jobs.Captioner {
	var cs []jobs.Captioner
	for _, m := range x.models {
		cs = append(cs, m)
	}
	return cs
}

// engineCaptioner is the engine, or a nil interface (not a nil pointer in
// one) without it.
func (x extraCaptioners) engineCaptioner() jobs.Captioner {
	if x.engine == nil {
		return nil
	}
	return x.engine
}

func (x extraCaptioners) close() {
	for _, m := range x.models {
		m.Close()
	}
}

// modelNames are the captioners a caption may be asked of, the default
// first. They come from the settings alone, so a web process that loads
// no model knows them too.
func modelNames(cfg config.Config) []string {
	var names []string
	if cfg.EngineKind != "" {
		names = append(names, engineConfig(cfg).Name())
	}
	names = append(names, modelName(cfg.ModelDir))
	for _, dir := range extraModelDirs(cfg) {
		names = append(names, modelName(dir))
	}
	return names
}

// extraModelDirs are MODELS past the first, which stands for MODEL_DIR,
// leaving out any of the default's name.
func extraModelDirs(cfg config.Config) []string {
	var dirs []string
	if len(cfg.Models) > 1 {
		for _, d := range cfg.Models[1:] {
			if modelName(d) != modelName(cfg.ModelDir) {
				dirs = append(dirs, d)
			}
		}
	}
	return dirs
}

// modelName is a model's name as inference.Model.Name gives it.
func modelName(dir string) string { return filepath.Base(filepath.Clean(dir)) }

func engineConfig(cfg config.Config) engine.Config {
	return engine.Config{Kind: cfg.EngineKind, URL: cfg.EngineURL, Model: cfg.EngineModel,
		Prompt: cfg.EnginePrompt, Key: cfg.EngineKey, Timeout: cfg.EngineTimeout}
}
