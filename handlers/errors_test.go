package handlers

import (
	"net/http"
	"strings"
	"testing"

	"captionai/testutil"
)

func TestNotFoundForEachClient(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	for _, path := range []string{"/no/such/page", "/images/not-a-uuid", "/images/6f1c1f4e-0000-4000-8000-000000000000", "/batches/6f1c1f4e-0000-4000-8000-000000000000"} {
		if code, page := v.Get(path); code != http.StatusNotFound || !strings.Contains(page, "<html") || !strings.Contains(page, "nothing at this address") {
			t.Errorf("%s: %d", path, code)
		}
	}
	if code, body := v.Get("/images/6f1c1f4e-0000-4000-8000-000000000000", "Accept", "application/json"); code != 404 || !strings.HasPrefix(body, `{"error":`) {
		t.Errorf("json 404: %d %s", code, body)
	}
	if code, body := v.Get("/no/such/page", "HX-Request", "true"); code != 404 || strings.Contains(body, "<html") || !strings.Contains(body, `class="alert"`) {
		t.Errorf("htmx 404: %d %s", code, body)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	req, _ := http.NewRequest("DELETE", s.URL+"/", nil)
	if code, body, _ := testutil.NewVisitor(t, s.URL).Do(req); code != http.StatusMethodNotAllowed || !strings.Contains(body, "does not accept DELETE") {
		t.Errorf("%d", code)
	}
}

func TestCrossSiteFormsAreRefused(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	code, body, _ := v.Form("/login", nil, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if code != http.StatusForbidden || !strings.Contains(body, "sent from another site") {
		t.Errorf("cross-site form: %d", code)
	}
}

func TestEveryAnswerCarriesSecurityHeaders(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, path := range []string{"/", "/no/such/page", "/static/app.css", "/healthz"} {
		res, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s: %v", path, res.Header)
		}
	}
}

func TestBadTextIsRefused(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	for _, q := range []string{"dog%00cat", "%ff%fe"} {
		if code, body := v.Get("/?q=" + q); code != http.StatusBadRequest || !strings.Contains(body, "Nothing was changed") {
			t.Errorf("q=%s: %d", q, code)
		}
	}
	if code, body := v.Get("/gallery?q=dog", "Accept", "application/json"); code != 200 || strings.Contains(body, "error") {
		t.Errorf("plain search: %d", code)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	if code, body := v.Get("/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := v.Get("/readyz"); code != 200 || body != "{\"database\":\"ok\"}\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
}
