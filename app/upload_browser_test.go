package app_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"captionai/testutil"
	"captionai/vocab"
)

// inPageFile is JS that makes a DataTransfer holding a File of a real
// JPEG, named name, as the variable dt.
func inPageFile(t *testing.T, name string) string {
	b64 := base64.StdEncoding.EncodeToString(testutil.JPEG(t, 320, 240))
	return fmt.Sprintf(`const bytes = Uint8Array.from(atob(%q), c => c.charCodeAt(0));
		const dt = new DataTransfer();
		dt.items.add(new File([bytes], %q, {type: "image/jpeg"}));`, b64, name)
}

// Files dropped on the home page: the overlay shows while they are
// dragged, the drop fills the form with a preview of each, the upload
// goes by htmx, the caption arrives, and the input is cleared for the
// next photos.
func TestBrowserDropUpload(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	ctx := browser(t)
	var overlayShown, overlayGone bool
	var previewName, previewSize, caption, marker string
	var chosen, left int
	err := steps(ctx,
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(`#image`, chromedp.ByID),
		chromedp.Evaluate(`window.__noReload = "still here"`, nil),
		// A real drop: dragenter, dragover and drop events carrying a File,
		// dispatched on the page's text, far from the form.
		chromedp.Evaluate(`(() => {`+inPageFile(t, "dropped.jpg")+`
			const target = document.querySelector(".hero h1");
			const ev = type => new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true});
			target.dispatchEvent(ev("dragenter"));
			target.dispatchEvent(ev("dragover"));
			return !document.getElementById("drop-overlay").hidden;
		})()`, &overlayShown),
		chromedp.Evaluate(`(() => {`+inPageFile(t, "dropped.jpg")+`
			const ev = new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true});
			document.querySelector(".hero h1").dispatchEvent(ev);
			return document.getElementById("drop-overlay").hidden && ev.defaultPrevented;
		})()`, &overlayGone),
		chromedp.Evaluate(`document.getElementById("image").files.length`, &chosen),
		chromedp.WaitVisible(`#upload-preview li img`, chromedp.ByQuery),
		chromedp.Text(`#upload-preview .name`, &previewName, chromedp.ByQuery),
		chromedp.Text(`#upload-preview .size`, &previewSize, chromedp.ByQuery),
	)
	screenshot(t, ctx, "drop-preview")
	if err != nil {
		t.Fatal(err)
	}
	if !overlayShown || !overlayGone {
		t.Errorf("drop overlay: shown while dragging %v, gone after the drop %v", overlayShown, overlayGone)
	}
	if chosen != 1 || previewName != "dropped.jpg" || !strings.HasSuffix(previewSize, "KB") {
		t.Fatalf("after the drop: %d files chosen, preview %q %q", chosen, previewName, previewSize)
	}
	err = steps(ctx,
		chromedp.Click(`form.upload button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#upload-results [data-status="captioned"]`, chromedp.ByQuery),
		chromedp.Text(`#upload-results .caption`, &caption, chromedp.ByQuery),
		chromedp.Evaluate(`window.__noReload`, &marker),
		chromedp.Evaluate(`document.getElementById("image").files.length + document.querySelectorAll("#upload-preview li").length`, &left),
	)
	screenshot(t, ctx, "drop-uploaded")
	if err != nil {
		t.Fatal(err)
	}
	if marker != "still here" || strings.TrimSpace(caption) == "" {
		t.Fatalf("marker %q, caption %q", marker, caption)
	}
	if left != 0 {
		t.Errorf("after the upload the input and preview still hold %d entries", left)
	}
}

// An image pasted on a page without the upload form (the gallery) is
// uploaded at once, and its card, with the caption, appears at the top of
// that page.
func TestBrowserPasteUpload(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	ctx := browser(t)
	var taken bool
	var caption, path string
	err := steps(ctx,
		chromedp.Navigate(s.URL+"/gallery"),
		chromedp.WaitVisible(`#gallery`, chromedp.ByID),
		chromedp.Evaluate(`(() => {`+inPageFile(t, "pasted.jpg")+`
			const ev = new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true});
			document.body.dispatchEvent(ev);
			return ev.defaultPrevented;
		})()`, &taken),
		chromedp.WaitVisible(`#drop-results [data-status="captioned"]`, chromedp.ByQuery),
		chromedp.Text(`#drop-results .caption`, &caption, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname`, &path),
	)
	screenshot(t, ctx, "paste-uploaded")
	if err != nil {
		t.Fatal(err)
	}
	if !taken || path != "/gallery" || strings.TrimSpace(caption) == "" {
		t.Fatalf("paste taken %v, at %s, caption %q", taken, path, caption)
	}
}

// The owner edits a caption in place: htmx swaps the caption, the photo's
// alt text and the "edited" mark without a reload.
func TestBrowserEditCaptionInPlace(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	owner := visitor(t, s.URL)
	owner.Signup("editor@example.com", "editor password")
	id := owner.MustUpload(vocab.Public)
	deadline := time.Now().Add(30 * time.Second)
	for getJSON(t, s.URL+"/images/"+id).Status != "captioned" {
		if time.Now().After(deadline) {
			t.Fatal("not captioned after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	const words = "A brown dog catches a red ball on the beach"
	ctx := browser(t)
	var caption, alt, edited, marker, path string
	err := steps(ctx, append(signInSteps(s.URL, "editor@example.com", "editor password"),
		chromedp.Navigate(s.URL+"/images/"+id),
		chromedp.WaitVisible(`#caption.captioned`, chromedp.ByQuery),
		chromedp.Evaluate(`window.__noReload = "still here"`, nil),
		chromedp.Click(`.edit-caption summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`.edit-caption textarea`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector(".edit-caption textarea").value = ""`, nil),
		chromedp.SendKeys(`.edit-caption textarea`, words, chromedp.ByQuery),
		chromedp.Click(`.edit-caption button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#caption .edited`, chromedp.ByQuery),
		chromedp.Text(`#caption .caption`, &caption, chromedp.ByQuery),
		chromedp.Text(`#caption .edited`, &edited, chromedp.ByQuery),
		chromedp.AttributeValue(`#photo`, "alt", &alt, nil, chromedp.ByQuery),
		chromedp.Evaluate(`window.__noReload`, &marker),
		chromedp.Evaluate(`location.pathname`, &path),
	)...)
	screenshot(t, ctx, "caption-edited")
	if err != nil {
		t.Fatal(err)
	}
	if marker != "still here" || path != "/images/"+id {
		t.Fatalf("the page reloaded or moved (marker %q, at %s)", marker, path)
	}
	if strings.TrimSpace(caption) != words || alt != words || !strings.Contains(edited, "edited") {
		t.Errorf("after the edit: caption %q, alt %q, mark %q", caption, alt, edited)
	}
	if got := getJSON(t, s.URL+"/images/"+id); got.Caption == nil || *got.Caption != words {
		t.Errorf("stored caption %v", got.Caption)
	}
}
