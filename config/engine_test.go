package config

import (
	"strings"
	"testing"
	"time"
)

func TestModelsAndEngineDefaults(t *testing.T) {
	c := Defaults()
	if len(c.Models) != 1 || c.Models[0] != c.ModelDir {
		t.Errorf("Models = %q, want MODEL_DIR alone", c.Models)
	}
	if c.EngineKind != "" || c.EnginePrompt != "One sentence, active voice, main subject first." || c.EngineTimeout != 30*time.Second {
		t.Errorf("engine defaults: %q %q %s", c.EngineKind, c.EnginePrompt, c.EngineTimeout)
	}
}

func TestModelsPutModelDirFirst(t *testing.T) {
	c, err := load(env(map[string]string{"MODEL_DIR": "models/a", "MODELS": " models/b, ./models/a/ ,, /opt/c"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Models, " "); got != "models/a models/b /opt/c" {
		t.Errorf("Models = %s", got)
	}
	_, err = load(env(map[string]string{"MODELS": "models/x,/opt/models/x"}))
	if err == nil || !strings.Contains(err.Error(), "models/x and /opt/models/x are both named x") {
		t.Errorf("two models named x: %v", err)
	}
}

func TestEngineSettings(t *testing.T) {
	c, err := load(env(map[string]string{"CAPTION_ENGINE_URL": "ollama+http://gpu:11434/", "CAPTION_ENGINE_MODEL": "llava",
		"CAPTION_ENGINE_TIMEOUT": "10s"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.EngineKind != "ollama" || c.EngineURL != "http://gpu:11434" || c.EngineModel != "llava" || c.EngineTimeout != 10*time.Second {
		t.Errorf("got %q %q %q %s", c.EngineKind, c.EngineURL, c.EngineModel, c.EngineTimeout)
	}
	c, err = load(env(map[string]string{"CAPTION_ENGINE_URL": "openai+https://api.openai.com", "CAPTION_ENGINE_MODEL": "gpt-4o-mini", "CAPTION_ENGINE_KEY": "sk-x"}))
	if err != nil || c.EngineKind != "openai" || c.EngineURL != "https://api.openai.com" || c.EngineKey != "sk-x" {
		t.Errorf("got %q %q %q, %v", c.EngineKind, c.EngineURL, c.EngineKey, err)
	}

	for v, want := range map[string]string{
		"CAPTION_ENGINE_URL=https://api.openai.com":                                           "want openai+https://HOST or ollama+http://HOST:11434",
		"CAPTION_ENGINE_URL=claude+https://x":                                                 "want openai+https://HOST",
		"CAPTION_ENGINE_URL=ollama+localhost:11434":                                           "want openai+https://HOST",
		"CAPTION_ENGINE_URL=ollama+http://h":                                                  "without CAPTION_ENGINE_MODEL",
		"CAPTION_ENGINE_TIMEOUT=2m CAPTION_ENGINE_URL=ollama+http://h CAPTION_ENGINE_MODEL=m": "CAPTION_ENGINE_TIMEOUT (2m0s) must be shorter than JOB_TIMEOUT (1m0s)",
	} {
		m := map[string]string{}
		for _, kv := range strings.Fields(v) {
			k, val, _ := strings.Cut(kv, "=")
			m[k] = val
		}
		if _, err := load(env(m)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", v, err, want)
		}
	}
	// Without an engine its timeout is not checked.
	if _, err := load(env(map[string]string{"CAPTION_ENGINE_TIMEOUT": "2m"})); err != nil {
		t.Error(err)
	}
}
