package app_test

import (
	"strings"
	"testing"

	"captionai/app"
	"captionai/config"
)

// The privacy and terms pages name the operator of OPERATOR_NAME and
// OPERATOR_CONTACT, and the privacy page says photos go to a remote engine
// only when CAPTION_ENGINE_URL is set.
func TestLegalPagesFromConfig(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: app.Roles{Web: true}, tweak: func(c *config.Config) {
		c.OperatorName, c.OperatorContact = "Example Photo Club", "https://photoclub.example/contact"
	}})
	v := visitor(t, s.URL)
	for _, path := range []string{"/terms", "/privacy"} {
		if code, page := v.Get(path); code != 200 || !strings.Contains(page, "Example Photo Club") ||
			!strings.Contains(page, `href="https://photoclub.example/contact"`) {
			t.Errorf("%s: %d, the operator or contact is missing", path, code)
		}
	}
	if _, page := v.Get("/privacy"); !strings.Contains(page, "No photo leaves this server") || !strings.Contains(page, "7 days") {
		t.Error("/privacy without an engine")
	}

	engine := start(t, opts{roles: app.Roles{Web: true}, tweak: func(c *config.Config) {
		c.EngineKind, c.EngineURL, c.EngineModel = "openai", "https://vision.example", "gpt-4o-mini"
	}})
	_, page := visitor(t, engine.URL).Get("/privacy")
	if strings.Contains(page, "No photo leaves") || !strings.Contains(page, "captioning engine at vision.example") ||
		!strings.Contains(page, "the operator of this server") {
		t.Error("/privacy with an engine does not say photos are sent to it, or has no default operator")
	}
}
