package app_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"captionai/app"
	"captionai/config"
	"captionai/testutil"
)

// browser starts headless Debian chromium for one test.
func browser(t testing.TB) context.Context {
	t.Helper()
	path := config.Test().Chromium
	if path == "" {
		p, err := exec.LookPath("chromium")
		if err != nil {
			t.Fatal("browser tests need Debian's chromium: run `go tool task chromium` (or set CHROMIUM)")
		}
		path = p
	}
	// Not t.TempDir: Chromium's helper processes may still write to the
	// profile just after the browser exits, which fails TempDir's cleanup.
	profile, err := os.MkdirTemp("", "captionai-chromium-*")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1200, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 150*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove the browser profile %s", profile)
	})
	return ctx
}

// steps runs actions one at a time, so that a failure (often a wait that
// ran into the deadline) names the action, counted from 1.
func steps(ctx context.Context, actions ...chromedp.Action) error {
	for i, a := range actions {
		if err := chromedp.Run(ctx, a); err != nil {
			return fmt.Errorf("action %d of %d (%T): %w", i+1, len(actions), a, err)
		}
	}
	return nil
}

// screenshot keeps a picture of the page when SCREENSHOT_DIR is set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := config.Test().ScreenshotDir
	if dir == "" {
		return
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}

func writePhoto(t *testing.T, name string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, testutil.JPEG(t, 320, 240), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// With JS, the caption arrives over SSE and is swapped in without a reload.
func TestBrowserUploadShowsCaptionLive(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	ctx := browser(t)
	img := writePhoto(t, "street.jpg")

	var marker, path, caption string
	err := steps(ctx,
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(`#image`, chromedp.ByID),
		// A page reload would lose this.
		chromedp.Evaluate(`window.__noReload = "still here"`, nil),
		chromedp.SetUploadFiles(`#image`, []string{img}, chromedp.ByID),
		chromedp.Click(`form.upload button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#upload-results [data-status="captioned"]`, chromedp.ByQuery),
		chromedp.Text(`#upload-results .caption`, &caption, chromedp.ByQuery),
		chromedp.Evaluate(`window.__noReload`, &marker),
		chromedp.Evaluate(`location.pathname`, &path),
	)
	screenshot(t, ctx, "upload-live")
	if err != nil {
		t.Fatal(err)
	}
	if marker != "still here" || path != "/" {
		t.Fatalf("the page reloaded (marker %q, path %q)", marker, path)
	}
	if strings.TrimSpace(caption) == "" {
		t.Fatal("empty caption")
	}
}

// An image page opened before its caption exists shows it when it comes.
// The web process runs alone until the page is open, so the page's stream
// always starts with the queued state and the caption is a later event.
func TestBrowserImagePageStreamsCaption(t *testing.T) {
	t.Parallel()
	_, dbURL := testutil.NewDB(t)
	media := t.TempDir()
	web := start(t, opts{roles: app.Roles{Web: true}, dbURL: dbURL, mediaDir: media})
	id := location(t, post(t, web.URL, []file{{"park.jpg", testutil.JPEG(t, 320, 240)}}, nil), "/images/")
	ctx := browser(t)

	var before string
	err := steps(ctx,
		chromedp.Navigate(web.URL+"/images/"+id),
		chromedp.WaitVisible(`#caption.queued`, chromedp.ByQuery),
		// The stream is open: the server writes its headers with the first
		// (queued) state, so the caption can only come as a later event.
		chromedp.Poll(`(() => {
			const d = document.querySelector("[sse-connect]")?.["htmx-internal-data"];
			return d?.sseEventSource?.readyState === EventSource.OPEN;
		})()`, nil),
		chromedp.AttributeValue(`#status`, "data-status", &before, nil, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	start(t, opts{roles: app.Roles{Worker: true}, dbURL: dbURL, mediaDir: media})
	var after, caption, alt, details string
	err = steps(ctx,
		chromedp.WaitVisible(`#caption.captioned`, chromedp.ByQuery),
		chromedp.AttributeValue(`#status`, "data-status", &after, nil, chromedp.ByQuery),
		chromedp.Text(`#caption .caption`, &caption, chromedp.ByQuery),
		// The alt text and the details (model, timings) follow out of band.
		chromedp.AttributeValue(`#photo`, "alt", &alt, nil, chromedp.ByQuery),
		chromedp.Text(`#details`, &details, chromedp.ByQuery),
	)
	screenshot(t, ctx, "image-page")
	if err != nil {
		t.Fatal(err)
	}
	if before != "queued" || after != "captioned" || strings.TrimSpace(caption) == "" {
		t.Fatalf("status %q then %q, caption %q", before, after, caption)
	}
	if alt != caption || !strings.Contains(details, "tiny-random") || !strings.Contains(details, "Inference") || !strings.Contains(details, "(encoder ") {
		t.Errorf("after the caption: alt %q, details %q", alt, details)
	}
}

// A public upload shows up in the home page's gallery, captioned, without a
// reload; before it the gallery is empty.
func TestBrowserPublicUploadJoinsGallery(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	ctx := browser(t)
	img := writePhoto(t, "harbour.jpg")

	var empty, marker, caption string
	err := steps(ctx,
		chromedp.Navigate(s.URL+"/"),
		chromedp.Text(`#gallery .empty`, &empty, chromedp.ByQuery),
		chromedp.Evaluate(`window.__noReload = "still here"`, nil),
		chromedp.SetUploadFiles(`#image`, []string{img}, chromedp.ByID),
		chromedp.SetValue(`select[name=visibility]`, "public", chromedp.ByQuery),
		chromedp.Click(`form.upload button`, chromedp.ByQuery),
		// One read in the page: the tile may be swapped again (its sizes
		// follow the caption), and a node found before the swap is gone.
		chromedp.Poll(`document.querySelector('#gallery [data-status="captioned"] .tile-caption')?.textContent || false`,
			&caption, chromedp.WithPollingTimeout(60*time.Second)),
		chromedp.Evaluate(`window.__noReload`, &marker),
	)
	screenshot(t, ctx, "gallery-live")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(empty, "No public photos yet") {
		t.Fatalf("gallery before the upload says %q", empty)
	}
	if marker != "still here" {
		t.Fatal("the page reloaded")
	}
	if strings.TrimSpace(caption) == "" {
		t.Fatal("empty caption in the gallery")
	}
}

// With JS off, the form posts, redirects to the image page, and a refresh
// shows the caption.
func TestBrowserUploadWithoutJavaScript(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	ctx := browser(t)
	img := writePhoto(t, "dog.jpg")

	var path string
	err := steps(ctx,
		emulation.SetScriptExecutionDisabled(true),
		chromedp.Navigate(s.URL+"/"),
		chromedp.SetUploadFiles(`#image`, []string{img}, chromedp.ByID),
		chromedp.Click(`form.upload button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#caption`, chromedp.ByID),
		chromedp.Location(&path),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(path, s.URL+"/images/") {
		t.Fatalf("after upload at %q, want the image page", path)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var status string
		if err := steps(ctx,
			chromedp.Reload(),
			chromedp.WaitVisible(`#caption`, chromedp.ByID),
			chromedp.AttributeValue(`#status`, "data-status", &status, nil, chromedp.ByID),
		); err != nil {
			t.Fatal(err)
		}
		if status == "captioned" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no caption after refreshing for 30s")
		}
		time.Sleep(300 * time.Millisecond)
	}
	screenshot(t, ctx, "nojs-image-page")
}

// Sign up in the browser, upload a private photo, and check that another
// browser (its own profile, so no shared cookies) gets 404 for its page and
// its file.
func TestBrowserPrivateUploadIsHidden(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	ctx := browser(t)
	img := writePhoto(t, "secret.jpg")

	var page string
	err := steps(ctx,
		chromedp.Navigate(s.URL+"/signup"),
		chromedp.SendKeys(`input[name=email]`, "browser@example.com", chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, "browser password", chromedp.ByQuery),
		chromedp.Submit(`input[name=password]`, chromedp.ByQuery),
		chromedp.WaitVisible(`a[href="/login"]`, chromedp.ByQuery), // "Check your inbox"
		chromedp.Navigate(s.URL+"/login"),
		chromedp.SendKeys(`input[name=email]`, "browser@example.com", chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, "browser password", chromedp.ByQuery),
		chromedp.Submit(`input[name=password]`, chromedp.ByQuery),
		chromedp.WaitVisible(`nav a[href="/account"]`, chromedp.ByQuery),
		chromedp.Navigate(s.URL+"/"),
		chromedp.SetUploadFiles(`#image`, []string{img}, chromedp.ByID),
		chromedp.SetValue(`select[name=visibility]`, "private", chromedp.ByQuery),
		chromedp.Click(`form.upload button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#upload-results .notice a`, chromedp.ByQuery),
		chromedp.Click(`#upload-results .notice a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#caption`, chromedp.ByID),
		chromedp.Location(&page),
	)
	screenshot(t, ctx, "private-upload")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(page, s.URL+"/images/") {
		t.Fatalf("at %s", page)
	}

	other := browser(t)
	for _, u := range []string{page, page + "/file"} {
		res, err := chromedp.RunResponse(other, chromedp.Navigate(u))
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != 404 {
			t.Errorf("second browser context: %s answered %d, want 404", u, res.Status)
		}
	}
	// The owner still sees both.
	res, err := chromedp.RunResponse(ctx, chromedp.Navigate(page+"/file"))
	if err != nil || res.Status != 200 {
		t.Fatalf("owner's file: %v %v", res, err)
	}
}
