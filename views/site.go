package views

import (
	"context"
	"strings"
)

// Site is what every page knows of this server and who runs it: for the
// footer and the terms and privacy pages.
type Site struct {
	Operator    string // OPERATOR_NAME
	Contact     string // OPERATOR_CONTACT: an email address or a URL; "" for none
	EngineKind  string // "openai" or "ollama" when a remote caption engine is set
	EngineHost  string // its host; "" when captions are written here
	GuestDays   int    // unclaimed guest uploads are deleted after this
	SessionDays int    // a sign-in lasts this long
	MailServer  bool   // mail goes through the operator's mail server (SMTP_URL)
	S3Storage   bool   // photos are kept in an S3 object store (STORAGE_URL)
	NSFWCheck   bool   // uploads are checked by the NSFW classifier
}

type siteKey struct{}

// WithSite stores the site for the layout and the legal pages to read.
func WithSite(ctx context.Context, s Site) context.Context {
	return context.WithValue(ctx, siteKey{}, s)
}

func currentSite(ctx context.Context) Site {
	s, _ := ctx.Value(siteKey{}).(Site)
	return s
}

// contactURL is the operator's contact as a link: mailto: for an address,
// the URL itself for http(s); "" for anything else (shown as text).
func contactURL(c string) string {
	switch {
	case strings.HasPrefix(c, "https://"), strings.HasPrefix(c, "http://"):
		return c
	case strings.Contains(c, "@") && !strings.ContainsAny(c, " :/<>"):
		return "mailto:" + c
	}
	return ""
}
