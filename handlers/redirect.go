package handlers

import (
	"net/url"
	"strings"
)

// localPath returns p if it is a path on this site, else fallback. Browsers
// read "//host" and "/\host" as another host, and drop tabs and newlines
// anywhere in a URL, so p must start with one "/" followed by neither "/"
// nor "\", hold no backslash or control character, and parse with no
// scheme or host.
func localPath(p, fallback string) string {
	if p == "" || p[0] != '/' || len(p) > 2000 {
		return fallback
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return fallback
	}
	if strings.ContainsFunc(p, func(c rune) bool { return c == '\\' || c < 0x20 || c == 0x7f }) {
		return fallback
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return fallback
	}
	// Percent-encoded slashes or backslashes at the start decode to the
	// same tricks on some servers and browsers.
	if strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, "/\\") {
		return fallback
	}
	return p
}
