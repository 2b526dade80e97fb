package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"captionai/apiclient"
	"captionai/testutil"
)

// apiToken signs up an account and makes it a token on the tokens page.
func apiToken(t *testing.T, s *server, email string) string {
	t.Helper()
	v := testutil.NewVisitor(t, s.URL)
	v.Signup(email, "api password")
	code, body, _ := v.Form("/account/tokens", url.Values{"name": {"cli"}}, "Accept", "application/json")
	var res struct{ Token string }
	json.Unmarshal([]byte(body), &res)
	if code != http.StatusCreated || !strings.HasPrefix(res.Token, "cai_") {
		t.Fatalf("creating a token: %d %s", code, body)
	}
	return res.Token
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAPIClientUploadReportsEachCaption(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	c := apiclient.Client{Server: s.URL, Token: apiToken(t, s, "client@example.com")}
	files := []string{writeFile(t, "a.jpg", testutil.JPEG(t, 64, 48)), writeFile(t, "b.jpg", testutil.JPEG(t, 40, 60))}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var got []apiclient.Result
	if err := c.Upload(ctx, files, "private", func(r apiclient.Result) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("results: %+v", got)
	}
	seen := map[string]bool{}
	for _, r := range got {
		img, err := c.Image(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "captioned" || r.Caption == "" || img.Caption == nil || *img.Caption != r.Caption || img.Visibility != "private" {
			t.Errorf("result %+v, image %+v", r, img)
		}
		seen[r.File] = true
	}
	if !seen[files[0]] || !seen[files[1]] {
		t.Errorf("results name %v, want %v", seen, files)
	}
	// Private: not for anyone else.
	if res, err := http.Get(s.URL + "/api/images/" + got[0].ID); err != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("anonymous read of a private image: %v %v", res.StatusCode, err)
	}

	// A wrong token, a refused file and an unreachable server are errors
	// that say so.
	var apiErr *apiclient.Error
	bad := apiclient.Client{Server: s.URL, Token: "cai_" + strings.Repeat("x", 43)}
	err := bad.Upload(ctx, files[:1], "", func(apiclient.Result) { t.Error("a result with a wrong token") })
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}
	text := writeFile(t, "notes.txt", []byte("not a photo"))
	err = c.Upload(ctx, []string{files[0], text}, "", func(apiclient.Result) { t.Error("a result of a refused upload") })
	if !errors.As(err, &apiErr) || apiErr.Status < 400 || len(apiErr.Files) != 1 || apiErr.Files[0].Name != "notes.txt" ||
		!strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("refused file: %v", err)
	}
	if err := c.Upload(ctx, []string{filepath.Join(t.TempDir(), "missing.jpg")}, "", nil); err == nil || !strings.Contains(err.Error(), "missing.jpg") {
		t.Errorf("missing file: %v", err)
	}
	gone := apiclient.Client{Server: "http://127.0.0.1:1", Token: c.Token}
	if err := gone.Upload(ctx, files[:1], "", nil); err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("unreachable server: %v", err)
	}
}

// The command itself, built and run: one line per image with its id and
// caption, and a non-zero exit with the reason for a wrong token.
func TestCLIUploadPrintsIDAndCaption(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	token := apiToken(t, s, "cli@example.com")
	bin := filepath.Join(t.TempDir(), "captionai")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = testutil.RepoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	photo := writeFile(t, "beach.jpg", testutil.JPEG(t, 64, 48))

	run := func(token string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "upload", "--server", s.URL, "--token", token, photo)
		cmd.Env = append(os.Environ(), "CAPTIONAI_TOKEN=", "CAPTIONAI_SERVER=")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	stdout, stderr, err := run(token)
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, stderr)
	}
	fields := strings.Split(strings.TrimSuffix(stdout, "\n"), "\t")
	if len(fields) != 3 || fields[1] != photo {
		t.Fatalf("output %q, want one line: id, file, caption", stdout)
	}
	c := apiclient.Client{Server: s.URL, Token: token}
	img, err := c.Image(context.Background(), fields[0])
	if err != nil {
		t.Fatal(err)
	}
	// The command puts each field on one line, spaces collapsed.
	if img.Caption == nil || *img.Caption == "" || fields[2] != strings.Join(strings.Fields(*img.Caption), " ") {
		t.Errorf("printed caption %q, image %+v", fields[2], img)
	}

	stdout, stderr, err = run("cai_" + strings.Repeat("y", 43))
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || stdout != "" || !strings.Contains(stderr, "refused the token (401)") {
		t.Errorf("wrong token: %v, stdout %q, stderr %q", err, stdout, stderr)
	}
}
