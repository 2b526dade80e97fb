package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"captionai/testutil"
	"captionai/vocab"
)

// signInSteps signs a browser in.
func signInSteps(base, email, password string) []chromedp.Action {
	return []chromedp.Action{
		chromedp.Navigate(base + "/login"),
		chromedp.SendKeys(`input[name=email]`, email, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, password, chromedp.ByQuery),
		chromedp.Submit(`input[name=password]`, chromedp.ByQuery),
		chromedp.WaitVisible(`nav a[href="/account"]`, chromedp.ByQuery),
	}
}

// A visitor reports a photo through its page (htmx swaps the form for the
// thanks), a moderator hides it from the review queue, and its owner sees
// why it is hidden.
func TestBrowserReportHideAndOwnersView(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	owner := visitor(t, s.URL)
	owner.Signup("owner@example.com", "owner password")
	id := owner.MustUpload(vocab.Public)
	visitor(t, s.URL).Signup("mod@example.com", "mod password")
	testutil.Grant(t, s.app.Store, "mod@example.com", vocab.Moderator)

	anon := browser(t)
	var thanks string
	err := steps(anon,
		chromedp.Navigate(s.URL+"/images/"+id),
		chromedp.Click(`#report summary`, chromedp.ByQuery),
		chromedp.Click(`input[name=reason][value=spam]`, chromedp.ByQuery),
		chromedp.SendKeys(`textarea[name=note]`, "an advert for shoes", chromedp.ByQuery),
		chromedp.Click(`.report-form button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#report .notice`, chromedp.ByQuery),
		chromedp.Text(`#report`, &thanks, chromedp.ByQuery),
	)
	screenshot(t, anon, "report-sent")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(thanks, "Thank you") {
		t.Fatalf("report answer: %q", thanks)
	}

	mod := browser(t)
	var flash string
	err = steps(mod, append(signInSteps(s.URL, "mod@example.com", "mod password"),
		chromedp.Navigate(s.URL+"/admin/reports"),
		chromedp.WaitVisible(`.queue-item`, chromedp.ByQuery),
		chromedp.ActionFunc(func(ctx context.Context) error { screenshot(t, ctx, "review-queue"); return nil }),
		chromedp.SendKeys(`form.action[action$="/hide"] input[name=reason]`, "Advertising is not allowed.", chromedp.ByQuery),
		chromedp.Click(`form.action[action$="/hide"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`.flash`, chromedp.ByQuery),
		chromedp.Text(`.flash`, &flash, chromedp.ByQuery),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(flash, "hidden") {
		t.Fatalf("after hiding: %q", flash)
	}

	own := browser(t)
	var notice string
	err = steps(own, append(signInSteps(s.URL, "owner@example.com", "owner password"),
		chromedp.Navigate(s.URL+"/images/"+id),
		chromedp.WaitVisible(`.moderation`, chromedp.ByQuery),
		chromedp.Text(`.moderation`, &notice, chromedp.ByQuery),
	)...)
	screenshot(t, own, "owner-hidden")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notice, "Hidden by a moderator: Advertising is not allowed.") {
		t.Fatalf("owner's notice: %q", notice)
	}
}
