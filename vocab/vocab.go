// Package vocab holds the words the app stores and shows: image statuses,
// visibilities and roles, each with its label for people. Every other
// package takes them from here.
package vocab

// Image statuses, in the order an image goes through them.
const (
	Queued     = "queued"
	Captioning = "captioning"
	Captioned  = "captioned"
	Failed     = "failed"
)

// Finished reports whether an image in status s will change no more.
func Finished(s string) bool { return s == Captioned || s == Failed }

// StatusLabel is a status in words for people.
func StatusLabel(s string) string {
	switch s {
	case Queued:
		return "Waiting in line"
	case Captioning:
		return "Writing caption…"
	case Captioned:
		return "Captioned"
	case Failed:
		return "Failed"
	}
	return s
}

// Visibilities: who may see an image.
const (
	Public   = "public"
	Unlisted = "unlisted"
	Private  = "private"
)

// Visibilities lists every visibility, most open first.
var Visibilities = []string{Public, Unlisted, Private}

// ValidVisibility reports whether v is a visibility.
func ValidVisibility(v string) bool { return v == Public || v == Unlisted || v == Private }

// VisibilityLabel says what a visibility means.
func VisibilityLabel(v string) string {
	switch v {
	case Public:
		return "Public: shown in the gallery"
	case Unlisted:
		return "Unlisted: anyone with the link"
	case Private:
		return "Private: only me"
	}
	return v
}

// Roles of accounts. Only a verified account holds one other than User.
const (
	User      = "user"
	Moderator = "moderator"
	Admin     = "admin"
)

// Roles lists every role, least power first.
var Roles = []string{User, Moderator, Admin}

// ValidRole reports whether r is a role.
func ValidRole(r string) bool { return r == User || r == Moderator || r == Admin }
