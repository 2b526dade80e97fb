// Package views renders pages and fragments with templ. Views take plain
// view models and know nothing of the database.
package views

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"

	"captionai/vocab"
)

// Image is what a page shows of one uploaded image.
type Image struct {
	ID          string
	Name        string // original file name
	Status      string // a vocab status
	Caption     string
	Model       string
	Error       string
	Width       int
	Height      int
	SizeBytes   int64
	EncodeMS    float64
	DecodeMS    float64
	TotalMS     float64
	CreatedAt   time.Time
	CaptionedAt *time.Time
	Visibility  string // a vocab visibility
	CanEdit     bool   // the visitor owns it, or is an admin
	CanRetry    bool   // the visitor is staff and its caption failed
	Moderation  string // vocab.ModOK, Held or Hidden
	ModReason   string // why it is held or hidden
	Owned       bool   // the visitor uploaded it
	Staff       bool   // the visitor moderates
	CaptionSrc  string // vocab.ByModel, ByOwner or ByStaff
	CanRate     bool   // the visitor is signed in
	Ratings     Ratings
	Models      []string // captioners a new caption may be asked of; a choice shows when there are several
	// Confidence and Certainty are the model's measure of the current
	// caption: nil and "" for people's edits and uncalibrated models.
	Confidence *float64
	Certainty  string // vocab.Sure, Probable, Unsure or ""
	// Uploader is who uploaded it as public pages name them: a display
	// name, vocab.GuestUploader or MemberUploader; "" where not shown.
	Uploader string
	// NewerID and OlderID are the photos before and after it in the public
	// gallery, for its page's previous and next links; "" for none.
	NewerID, OlderID string
	// Card and View are its display sizes (480 and 1600 px on the long
	// side, never larger than the original); zero until the worker has
	// made them, and pages show the original meanwhile.
	Card, View Rendition
	// SizesPending: it is larger than its view size and its sizes are
	// still being made; pages show a placeholder of its shape meanwhile.
	SizesPending bool
}

// Rendition is one file of an image that a page can show: a display size
// or the original.
type Rendition struct {
	URL           string
	Width, Height int
}

// sizes attributes: how wide each kind of picture is laid out (see
// app.css), so the browser picks the smallest file that fills it.
const (
	// .photo-grid tiles (16rem and up in the 90rem column): one column on
	// phones, two on small tablets, then about 16-20rem each.
	tileSizes = "(max-width: 34rem) calc(100vw - 2rem), (max-width: 51rem) calc(50vw - 1.5rem), 20rem"
	// .cards on /me and batch pages (14rem and up).
	cardSizes = "(max-width: 30rem) calc(100vw - 2rem), (max-width: 45rem) calc(50vw - 1.5rem), 18rem"
	// The image page's photo: the whole column on narrow screens; from
	// 64rem on, beside a 24rem column of details in a column of at most
	// 90rem.
	viewSizes = "(min-width: 90rem) 60rem, (min-width: 64rem) calc(100vw - 30rem), calc(100vw - 2rem)"
	// Staff queue and confirmation thumbnails.
	thumbSizes = "16rem"
)

// Plural is n things: "1 photo", "3 photos".
func Plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return itoa(n) + " " + thing + "s"
}

// original is the uploaded file as a Rendition.
func (i Image) original() Rendition { return Rendition{i.FileURL(), i.Width, i.Height} }

// srcset lists the display sizes by width; "" before they exist.
func (i Image) srcset() string {
	if i.Card.URL == "" {
		return ""
	}
	s := i.Card.URL + " " + itoa(i.Card.Width) + "w"
	if i.View.URL != "" && i.View.Width > i.Card.Width {
		s += ", " + i.View.URL + " " + itoa(i.View.Width) + "w"
	}
	return s
}

// picture is the src, srcset, sizes, width and height of an <img> of the
// image: main (the card or the view) with both sizes to choose from, or
// the original while it has none. Width and height are main's, which has
// the original's shape, so the page keeps its layout as it loads.
func (i Image) picture(main Rendition, sizes string) templ.Attributes {
	if main.URL == "" && i.SizesPending {
		return templ.Attributes{"src": placeholder(i.Width, i.Height), "width": itoa(i.Width), "height": itoa(i.Height), "class": "pending"}
	}
	if main.URL == "" {
		main = i.original()
	}
	a := templ.Attributes{"src": main.URL, "width": itoa(main.Width), "height": itoa(main.Height)}
	if set := i.srcset(); set != "" {
		a["srcset"], a["sizes"] = set, sizes
	}
	return a
}

// placeholder is an image of w×h that says the photo is on its way: a data
// URL, so it costs no request (ours, so safe from templ's URL check).
func placeholder(w, h int) templ.SafeURL {
	svg := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d"><rect width="100%%" height="100%%" fill="#e7e5e4"/>`+
		`<text x="50%%" y="50%%" text-anchor="middle" dominant-baseline="middle" font-family="sans-serif" font-size="%d" fill="#57534e">Preparing preview…</text></svg>`,
		w, h, max(w/16, 1))
	return templ.SafeURL("data:image/svg+xml," + url.PathEscape(svg))
}

// Tile, CardPicture, ViewPicture and Thumb are the <img> attributes of the
// image in a gallery tile, a card, its own page and a small thumbnail.
// Staff thumbnails show the original while sizes are pending: moderators
// must see what they judge.
func (i Image) Tile() templ.Attributes        { return i.picture(i.Card, tileSizes) }
func (i Image) CardPicture() templ.Attributes { return i.picture(i.Card, cardSizes) }
func (i Image) ViewPicture() templ.Attributes { return i.picture(i.View, viewSizes) }
func (i Image) Thumb() templ.Attributes {
	i.SizesPending = false
	return i.picture(i.Card, thumbSizes)
}

func (i Image) URL() string       { return "/images/" + i.ID }
func (i Image) FileURL() string   { return "/images/" + i.ID + "/file" }
func (i Image) EventsURL() string { return "/images/" + i.ID + "/events" }
func (i Image) Finished() bool    { return vocab.Finished(i.Status) }

// SSEName is the event that carries an image's new HTML on every stream.
func SSEName(id string) string { return "image-" + id }

// SSEName is the event that carries this image's new HTML on every stream.
func (i Image) SSEName() string { return SSEName(i.ID) }

// Alt is the image's alternative text: its caption once there is one,
// hedged as the page shows it ("Probably: a dog runs on grass").
func (i Image) Alt() string {
	if i.Caption != "" {
		return i.Hedge() + i.Caption
	}
	return "Uploaded photo " + i.Name
}

// Hedge is what goes before the caption wherever it is shown or read:
// "Probably: " for a probable caption, "" otherwise.
func (i Image) Hedge() string { return vocab.Hedge(i.Certainty) }

// ConfidenceText is a model's confidence for people: "42%, probably
// right", or "not measured" without one.
func ConfidenceText(confidence *float64, certainty string) string {
	if confidence == nil {
		return "not measured"
	}
	s := fmt.Sprintf("%.0f%%", *confidence*100)
	if l := vocab.CertaintyLabel(certainty); l != "" {
		s += ", " + l
	}
	return s
}

// StatusLabel is the status in words for people.
func (i Image) StatusLabel() string { return vocab.StatusLabel(i.Status) }

// FailureText says why a failed image has no caption, for people.
func (i Image) FailureText() string {
	if strings.HasPrefix(i.Error, "The captioning model failed") || strings.HasPrefix(i.Error, "Captioning gave up") {
		return "The caption could not be written. Try uploading the photo again later."
	}
	return "This file could not be read; it may be damaged."
}

// FileError is one rejected file of an upload.
type FileError struct {
	Name    string
	Message string
}

// UploadForm is the state of the upload form.
type UploadForm struct {
	MaxFiles   int
	MaxMB      int64
	MaxMP      int64
	GuestDays  int         // 0 for signed-in visitors: their uploads are kept
	Visibility string      // preselected visibility
	Message    string      // whole-request error
	FileErrors []FileError // per-file errors
}

// Gallery is one page of recent images.
type Gallery struct {
	Images   []Image
	NextURL  string // empty on the last page
	FirstURL string // empty on the first page
	Query    string // the caption search, if any
	Page     int    // 1 on the first page, counted along the Older links; 0: a later page of unknown number
}

// HumanBytes is a size for people: "3.2 MB", "12 KB".
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func ms(v float64) string { return fmt.Sprintf("%.0f ms", v) }

func timeAttr(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func timeText(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") }

func dateText(t time.Time) string { return t.UTC().Format("2 Jan 2006") }

func itoa(n int) string { return fmt.Sprint(n) }

// Ratings are the votes on an image's current caption.
type Ratings struct {
	Good, Bad int
	Mine      string // the visitor's vote: vocab.Good, Bad or ""
}

// Edited reports whether a person wrote the current caption.
func (i Image) Edited() bool { return vocab.ByPerson(i.CaptionSrc) }

// CanFix reports whether the visitor may edit, regenerate or restore the
// caption: the owner and staff.
func (i Image) CanFix() bool { return i.Owned || i.Staff }
