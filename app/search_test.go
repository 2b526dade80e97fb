package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The public gallery searches captions (English stemming), keeps the query
// in its page, and never shows unlisted photos.
func TestGallerySearch(t *testing.T) {
	t.Parallel()
	s := start(t, opts{roles: both})
	v := visitor(t, s.URL)
	captions := map[string]string{
		v.MustUpload("public"):   "a dog runs along the beach",
		v.MustUpload("public"):   "two dogs are playing in the snow",
		v.MustUpload("public"):   "a man rides a bike down a hill",
		v.MustUpload("unlisted"): "a dog sits on a boat",
	}
	// Captions are set once the worker is done, so it cannot overwrite them.
	for id, c := range captions {
		deadline := time.Now().Add(30 * time.Second)
		for getJSON(t, s.URL+"/images/"+id).Status != "captioned" {
			if time.Now().After(deadline) {
				t.Fatalf("%s not captioned after 30s", id)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := s.app.Pool.Exec(context.Background(), "UPDATE images SET caption = $1 WHERE id = $2", c, id); err != nil {
			t.Fatal(err)
		}
	}
	shows := func(body, caption string) bool {
		for id, c := range captions {
			if c == caption {
				return strings.Contains(body, "/images/"+id)
			}
		}
		t.Fatalf("no image captioned %q", caption)
		return false
	}

	for _, c := range []struct {
		q          string
		want, not  []string
		wantInPage string
	}{
		{"dogs running", []string{"a dog runs along the beach"},
			[]string{"two dogs are playing in the snow", "a man rides a bike down a hill", "a dog sits on a boat"}, ""},
		{"dog", []string{"a dog runs along the beach", "two dogs are playing in the snow"},
			[]string{"a man rides a bike down a hill", "a dog sits on a boat"}, "Show all"},
		{"dog -snow", []string{"a dog runs along the beach"}, []string{"two dogs are playing in the snow"}, ""},
		{"zebra", nil, []string{"a dog runs along the beach", "a man rides a bike down a hill"},
			"No public photo&#39;s caption matches &#34;zebra&#34;"},
		{"   ", []string{"a dog runs along the beach", "two dogs are playing in the snow", "a man rides a bike down a hill"},
			[]string{"a dog sits on a boat"}, ""},
	} {
		code, body := v.Get("/gallery?q=" + url.QueryEscape(c.q))
		if code != http.StatusOK {
			t.Fatalf("q=%q: %d", c.q, code)
		}
		for _, w := range c.want {
			if !shows(body, w) {
				t.Errorf("q=%q: %q missing", c.q, w)
			}
		}
		for _, n := range c.not {
			if shows(body, n) {
				t.Errorf("q=%q: %q shown", c.q, n)
			}
		}
		if c.wantInPage != "" && !strings.Contains(body, c.wantInPage) {
			t.Errorf("q=%q: page lacks %q", c.q, c.wantInPage)
		}
		if q := strings.TrimSpace(c.q); q != "" && !strings.Contains(body, `value="`+q+`"`) {
			t.Errorf("q=%q: the search box does not keep the query", c.q)
		}
	}

	// Page links keep the query: an older page links back to the newest
	// page of the same search.
	future := time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
	_, body := v.Get("/gallery?q=dog&before=" + url.QueryEscape(future))
	if !strings.Contains(body, `href="/gallery?q=dog"`) {
		t.Errorf("an older page of a search does not link to its first page")
	}
}
