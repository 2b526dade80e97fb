// Package static embeds the files served under /static/: the stylesheet, a
// few lines of progressive enhancement, and the vendored htmx files.
package static

import "embed"

//go:embed app.css app.js favicon.svg vendor/*.js
var FS embed.FS
