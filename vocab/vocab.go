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

// Moderation states of an image, beside its visibility: a held or hidden
// image is seen only by its owner and staff.
const (
	ModOK  = "ok"
	Held   = "held"   // the NSFW classifier flagged it: waiting for review
	Hidden = "hidden" // hidden by staff
)

// Report reasons, in the order the form offers them.
var ReportReasons = []string{"spam", "sexual", "violence", "harassment", "illegal", "caption", "other"}

// ValidReportReason reports whether r is a report reason.
func ValidReportReason(r string) bool {
	for _, v := range ReportReasons {
		if v == r {
			return true
		}
	}
	return false
}

// ReportReasonLabel says what a report reason means.
func ReportReasonLabel(r string) string {
	switch r {
	case "spam":
		return "Spam or advertising"
	case "sexual":
		return "Sexual content"
	case "violence":
		return "Violence or gore"
	case "harassment":
		return "Harassment or hate"
	case "illegal":
		return "Illegal content"
	case "caption":
		return "The caption is wrong or offensive"
	case "other":
		return "Something else"
	}
	return r
}

// Moderation and role actions, as the audit log names them.
const (
	ActHide          = "hide"
	ActUnhide        = "unhide"
	ActApprove       = "approve"
	ActDismiss       = "dismiss"
	ActDelete        = "delete"
	ActFixCaption    = "fix caption"
	ActBan           = "ban"
	ActUnban         = "unban"
	ActSetRole       = "set role"
	ActSetVisibility = "set visibility"
	ActRetry         = "retry caption"
)

// Who wrote a caption.
const (
	ByModel = "model"
	ByOwner = "owner"
	ByStaff = "staff"
)

// ByPerson says whether a person wrote the caption (source is empty
// before the first caption).
func ByPerson(source string) bool { return source == ByOwner || source == ByStaff }

// CaptionSourceLabel says who wrote a caption, for people.
func CaptionSourceLabel(source string) string {
	switch source {
	case ByOwner:
		return "edited by the owner"
	case ByStaff:
		return "edited by a moderator"
	}
	return "written by the model"
}

// Ratings of a caption.
const (
	Good = "good"
	Bad  = "bad"
)

// How sure the model is of its caption (its calibrated confidence against the
// thresholds in the model's config.json).
const (
	Sure     = "sure"
	Probable = "probable" // shown as "Probably: …", in the alt text too
	Unsure   = "unsure"   // the model's words are replaced by a short, safe description
)

// Hedge is how a caption of certainty c is shown and read aloud: "Probably: "
// before a probable caption, nothing otherwise.
func Hedge(c string) string {
	if c == Probable {
		return "Probably: "
	}
	return ""
}

// CertaintyLabel says a certainty in words for people; "" for none.
func CertaintyLabel(c string) string {
	switch c {
	case Sure:
		return "sure"
	case Probable:
		return "probably right"
	case Unsure:
		return "unsure, so a plain description replaced the model's words"
	}
	return ""
}

// Uploader names beside public photos: an account's chosen display name,
// or else one of these; never an email address.
const (
	GuestUploader  = "guest"  // uploaded without an account
	MemberUploader = "member" // an account that chose no display name
)

// MaxDisplayName is the longest display name, in characters.
const MaxDisplayName = 40
