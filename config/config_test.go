package config

import (
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c := Defaults()
	checks := []struct {
		name      string
		got, want any
	}{
		{"MediaDir", c.MediaDir, "./data/media"},
		{"PublicURL", c.PublicURL, "http://127.0.0.1:8080"},
		{"RescueAfter", c.RescueAfter, 90 * time.Second},
		{"Workers", c.Workers, runtime.NumCPU()},
		{"ORTLib", c.ORTLib, "./.cache/onnxruntime/" + ORTVersion + "/libonnxruntime.so.1"},
		{"MaxUploadBytes", c.MaxUploadBytes, int64(20 << 20)},
		{"MaxPixels", c.MaxPixels, int64(50_000_000)},
		{"GuestRetention", c.GuestRetention, 7 * 24 * time.Hour},
		{"EmbeddedPGPort", c.EmbeddedPGPort, 5488},
		{"MailFrom", c.MailFrom, "CaptionAI <noreply@localhost>"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadReadsEnvironment(t *testing.T) {
	c, err := load(env(map[string]string{
		"DATA_DIR": "/srv/cap/", "ADDR": "0.0.0.0:80", "JOB_TIMEOUT": "2m", "MAX_UPLOAD_MB": " 3 ",
		"ADMIN_EMAILS": " A@x.org, ,b@y.org", "PUBLIC_URL": "https://cap.example/", "PG_BIN_DIR": "/opt/pg/bin",
		"TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MediaDir != "/srv/cap/media" || c.RescueAfter != 150*time.Second || c.MaxUploadBytes != 3<<20 ||
		c.PublicURL != "https://cap.example" || c.PGBinDir != "/opt/pg/bin" || len(c.TrustedProxies) != 2 ||
		strings.Join(c.AdminEmails, " ") != "a@x.org b@y.org" {
		t.Errorf("got %+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := load(env(map[string]string{
		"WORKERS": "many", "JOB_TIMEOUT": "-1s", "RESCUE_AFTER": "fast", "TRUSTED_PROXIES": "10.0.0.0/8,nope,1.2.3",
	}))
	want := `bad configuration:
  WORKERS="many": want a positive whole number
  JOB_TIMEOUT="-1s": want a positive duration such as 90s or 2m
  RESCUE_AFTER="fast": want a positive duration such as 90s or 2m
  TRUSTED_PROXIES: "nope" is not an IP address or a CIDR range such as 10.0.0.0/8
  TRUSTED_PROXIES: "1.2.3" is not an IP address or a CIDR range such as 10.0.0.0/8`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	_, err = load(env(map[string]string{"JOB_TIMEOUT": "5m", "RESCUE_AFTER": "2m"}))
	if err == nil || !strings.Contains(err.Error(), "RESCUE_AFTER (2m0s) must be longer than JOB_TIMEOUT (5m0s)") {
		t.Errorf("got %v", err)
	}
}

func TestPinnedORT(t *testing.T) {
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(ORTVersion) {
		t.Errorf("ORT_VERSION %q", ORTVersion)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(ORTSHA256) {
		t.Errorf("ORT_SHA256 %q", ORTSHA256)
	}
}

// markdownRows renders vars as the rows of a README table.
func markdownRows(vars []Var) []string {
	var rows []string
	for _, v := range vars {
		def := "`" + v.Default + "`"
		switch {
		case v.Default == "":
			def = "unset"
		case v.derive != nil:
			def = v.Default // already written as markdown
		}
		rows = append(rows, "| `"+v.Name+"` | "+def+" | "+v.Help+" |")
	}
	return rows
}

// TestREADME checks the tables in README.md's Configuration section
// against Vars and testVars.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no ## Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	// Without the Test settings heading, the whole section counts as the
	// app's table and the test table comes out empty (and is reported).
	app, tests, _ := strings.Cut(section, "\n### Test settings\n")
	var tv []Var
	for _, v := range testVars {
		tv = append(tv, v.Var)
	}
	for _, table := range []struct {
		name string
		text string
		vars []Var
	}{{"configuration", app, Vars}, {"test settings", tests, tv}} {
		var got []string
		for _, line := range strings.Split(table.text, "\n") {
			if strings.HasPrefix(line, "| `") {
				got = append(got, line)
			}
		}
		want := markdownRows(table.vars)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("README.md's %s table differs from config; its rows should be:\n%s", table.name, strings.Join(want, "\n"))
		}
	}
}
