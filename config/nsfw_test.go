package config

import (
	"strings"
	"testing"
)

func TestNSFWSettings(t *testing.T) {
	if c := Defaults(); c.NSFWModel != DefaultNSFWModel || c.NSFWHold != 0.99 {
		t.Errorf("defaults: NSFW_MODEL %q, NSFW_HOLD %v", c.NSFWModel, c.NSFWHold)
	}
	c, err := load(env(map[string]string{"NSFW_MODEL": "OFF", "NSFW_HOLD": "0"}))
	if err != nil || c.NSFWModel != "" || c.NSFWHold != 0 {
		t.Errorf("off and 0: %q %v %v", c.NSFWModel, c.NSFWHold, err)
	}
	for _, v := range []string{"-0.1", "high", "NaN", "+Inf"} {
		if _, err := load(env(map[string]string{"NSFW_HOLD": v})); err == nil || !strings.Contains(err.Error(), "NSFW_HOLD=") {
			t.Errorf("NSFW_HOLD=%s: %v", v, err)
		}
	}
}
