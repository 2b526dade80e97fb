package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"riverqueue.com/riverui"

	"captionai/db"
	"captionai/jobs"
	"captionai/testutil"
	"captionai/vocab"
)

// testJobsUI is River's UI as app.Handler builds it, on the test server's
// insert-only client. Not started: its background counts are optional.
func testJobsUI(t testing.TB, client *jobs.Client) http.Handler {
	t.Helper()
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(client, nil),
		Logger:    testutil.Logger(t),
		Prefix:    JobsUIPrefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ui
}

// withModerator adds a signed-in moderator to p.
func withModerator(t *testing.T, p *people) *testutil.Visitor {
	t.Helper()
	mod := testutil.NewVisitor(t, p.s.URL)
	mod.Signup("mod@example.com", "moderator password")
	testutil.Grant(t, db.New(p.s.pool), "mod@example.com", vocab.Moderator)
	mod.Login("mod@example.com", "moderator password")
	return mod
}

func TestJobsUIIsForAdminsOnly(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	mod := withModerator(t, p)

	code, body := p.admin.Get("/admin/jobs/")
	if code != http.StatusOK || !strings.Contains(body, `id="root"`) || !strings.Contains(body, `"/admin/jobs/api"`) {
		t.Errorf("admin: /admin/jobs/: %d %.300s", code, body)
	}
	// The jobs newPeople's uploads queued, read through the insert-only client.
	code, body = p.admin.Get("/admin/jobs/api/jobs?state=available", "Accept", "application/json")
	if code != http.StatusOK || strings.Count(body, `"kind":"caption"`) != 3 {
		t.Errorf("admin: job list: %d %.500s", code, body)
	}
	if code, _ := p.admin.Get("/admin/jobs"); code != http.StatusMovedPermanently {
		t.Errorf("admin: /admin/jobs: %d, want a redirect to /admin/jobs/", code)
	}

	for name, v := range map[string]*testutil.Visitor{"moderator": mod, "user": p.other, "anonymous": p.anon} {
		for _, path := range []string{"/admin/jobs", "/admin/jobs/", "/admin/jobs/api/jobs?state=available", "/admin/jobs/api/states"} {
			code, body := v.Get(path)
			if code != http.StatusNotFound || !strings.Contains(body, "There is nothing at this address") {
				t.Errorf("%s: %s: %d %.200s, want our 404 page", name, path, code, body)
			}
		}
	}
}

// Only River's UI gets the relaxed policy, and only for admins.
func TestJobsUICSPIsScopedToIt(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	csp := func(v *testutil.Visitor, path string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", p.s.URL+path, nil)
		_, _, hdr := v.Do(req)
		return hdr.Get("Content-Security-Policy")
	}
	strict := csp(p.admin, "/")
	if strict == jobsUICSP || strings.Contains(strict, "unsafe") {
		t.Fatalf("home page CSP: %q", strict)
	}
	for _, path := range []string{"/admin/jobs/", "/admin/jobs/jobs", "/admin/jobs/api/jobs?state=available"} {
		if got := csp(p.admin, path); got != jobsUICSP {
			t.Errorf("admin: %s CSP %q, want %q", path, got, jobsUICSP)
		}
	}
	for _, path := range []string{"/admin", "/admin/users"} {
		if got := csp(p.admin, path); got != strict {
			t.Errorf("admin: %s CSP %q, want the strict one", path, got)
		}
	}
	if got := csp(p.other, "/admin/jobs/"); got != strict {
		t.Errorf("user: /admin/jobs/ (404) CSP %q, want the strict one", got)
	}
}

// River UI's actions are POSTs from the page: same-origin ones work, a
// cross-site one is refused before it reaches River, and only admins may.
func TestJobsUIActionsNeedSameOriginAndAdmin(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	mod := withModerator(t, p)
	ctx := context.Background()
	var jobID int64
	if err := p.s.pool.QueryRow(ctx, `SELECT min(id) FROM river_job WHERE kind = 'caption'`).Scan(&jobID); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		t.Helper()
		var s string
		if err := p.s.pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, jobID).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	cancel := func(v *testutil.Visitor, site string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", p.s.URL+"/admin/jobs/api/jobs/cancel",
			strings.NewReader(`{"ids":["`+strconv.FormatInt(jobID, 10)+`"]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Sec-Fetch-Site", site)
		if site == "cross-site" {
			req.Header.Set("Origin", "https://evil.example")
		}
		code, body, _ := v.Do(req)
		return code, body
	}

	if code, body := cancel(p.admin, "cross-site"); code != http.StatusForbidden || state() != "available" {
		t.Errorf("cross-site cancel: %d %.200s, job %s", code, body, state())
	}
	for name, v := range map[string]*testutil.Visitor{"moderator": mod, "user": p.other, "anonymous": p.anon} {
		if code, _ := cancel(v, "same-origin"); code != http.StatusNotFound || state() != "available" {
			t.Errorf("%s: cancel: %d, job %s; want 404", name, code, state())
		}
	}
	if code, body := cancel(p.admin, "same-origin"); code != http.StatusOK || state() != "cancelled" {
		t.Errorf("admin: same-origin cancel: %d %.200s, job %s", code, body, state())
	}
}

func TestStaffRetriesFailedCaption(t *testing.T) {
	t.Parallel()
	p := newPeople(t)
	mod := withModerator(t, p)
	ctx := context.Background()
	id := p.public
	if _, err := p.s.pool.Exec(ctx, `UPDATE images SET status = 'failed', error = 'The captioning model failed: boom' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	var oldJob int64
	if err := p.s.pool.QueryRow(ctx, `SELECT job_id FROM images WHERE id = $1`, id).Scan(&oldJob); err != nil {
		t.Fatal(err)
	}
	retry := "/admin/images/" + id + "/retry"

	if _, page := p.owner.Get("/images/" + id); strings.Contains(page, "Retry caption") {
		t.Error("the owner (not staff) is offered a retry")
	}
	for name, v := range map[string]*testutil.Visitor{"owner": p.owner, "user": p.other, "anonymous": p.anon} {
		if code, _, _ := v.Form(retry, nil); code != http.StatusNotFound {
			t.Errorf("%s: retry %d, want 404", name, code)
		}
	}
	if code, _, _ := mod.Form("/admin/images/"+id+"x/retry", nil); code != http.StatusNotFound {
		t.Errorf("moderator: retry of a bad id: %d, want 404", code)
	}

	if _, page := mod.Get("/images/" + id); !strings.Contains(page, `action="`+retry+`"`) || !strings.Contains(page, "Retry caption") {
		t.Fatalf("moderator: no retry button on the failed image's page")
	}
	code, _, hdr := mod.Form(retry, url.Values{})
	if code != http.StatusSeeOther || hdr.Get("Location") != "/images/"+id {
		t.Fatalf("moderator: retry %d to %q, want 303 to the image", code, hdr.Get("Location"))
	}
	var status, errText string
	var newJob int64
	if err := p.s.pool.QueryRow(ctx, `SELECT status, coalesce(error, ''), job_id FROM images WHERE id = $1`, id).Scan(&status, &errText, &newJob); err != nil {
		t.Fatal(err)
	}
	if status != vocab.Queued || errText != "" || newJob == oldJob {
		t.Errorf("after retry: status %q, error %q, job %d (was %d)", status, errText, newJob, oldJob)
	}
	var kind, jobState string
	var forImage bool
	if err := p.s.pool.QueryRow(ctx, `SELECT kind, state, args->>'image_id' = $2 FROM river_job WHERE id = $1`, newJob, id).
		Scan(&kind, &jobState, &forImage); err != nil {
		t.Fatalf("the new job %d: %v", newJob, err)
	}
	if kind != "caption" || jobState != "available" || !forImage {
		t.Errorf("new job: kind %q, state %q, for the image: %v", kind, jobState, forImage)
	}
	if _, page := mod.Get("/images/" + id); !strings.Contains(page, "Captioning again.") || strings.Contains(page, "Retry caption") {
		t.Error("after retry: no flash, or the button is still there")
	}
	// Queued now, so nothing to retry: no second job.
	if code, _, _ := mod.Form(retry, nil); code != http.StatusConflict {
		t.Errorf("retry of a queued image: %d, want 409", code)
	}
	var jobsForImage int
	p.s.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE args->>'image_id' = $1`, id).Scan(&jobsForImage)
	if jobsForImage != 2 {
		t.Errorf("%d caption jobs for the image, want 2", jobsForImage)
	}
}
