package handlers

import (
	"net/url"
	"strings"
	"testing"
)

func TestLocalPathRefusesOtherHosts(t *testing.T) {
	for _, p := range []string{
		"", "evil.example", "//evil.example", "///evil.example", "/\\evil.example", "/\\/evil.example",
		"\\\\evil.example", "https://evil.example", "http:/evil.example", "javascript:alert(1)",
		"//evil.example/%2F..", "/%5Cevil.example/", "/\t/evil.example", "/\n/evil.example",
		"/\r\n//evil.example", " //evil.example", "/x\\..\\\\evil.example", "//user@evil.example",
		"/%2F%2Fevil.example", "/%2f/evil.example", "data:text/html,hi", "/\x00/evil.example",
		"\x7f//evil.example", "/" + strings.Repeat("a", 3000),
	} {
		// Hostile forms arrive decoded from the query string, as in ?next=/%5Cevil.example/.
		decoded, err := url.QueryUnescape(p)
		if err != nil {
			decoded = p
		}
		for _, in := range []string{p, decoded} {
			if got := localPath(in, "/me"); got != "/me" {
				t.Errorf("localPath(%q) = %q, want the fallback", in, got)
			}
		}
	}
	for _, p := range []string{"/", "/me", "/images/abc?x=1", "/admin/users#top", "/search?q=a%2Fb", "/a/b/../c"} {
		if got := localPath(p, "/me"); got != p {
			t.Errorf("localPath(%q) = %q, want it kept", p, got)
		}
	}
}

// Whatever localPath accepts resolves, against our origin, to our origin.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/me", "//evil", "/\\evil", "/%5Cevil", "https://x", "/a?next=//b", "/\t/x"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://captionai.example/page")
	f.Fuzz(func(t *testing.T, p string) {
		got := localPath(p, "/fallback")
		if got == "/fallback" {
			return
		}
		if got != p {
			t.Fatalf("localPath changed %q to %q", p, got)
		}
		// Browsers treat "\" as "/" and drop tabs and newlines; so must the check.
		browser := strings.NewReplacer("\\", "/", "\t", "", "\n", "", "\r", "").Replace(got)
		u, err := base.Parse(browser)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", p, err)
		}
		if u.Host != base.Host || u.Scheme != base.Scheme {
			t.Fatalf("accepted %q, which leads to %s://%s", p, u.Scheme, u.Host)
		}
	})
}
