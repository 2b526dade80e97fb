package handlers

import (
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"captionai/views"
	"captionai/vocab"
)

// setDisplayName saves the name shown beside the account's public photos:
// trimmed, 1-40 characters; empty clears it (the photos show "member").
func (h *Handler) setDisplayName(w http.ResponseWriter, r *http.Request) {
	v, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	name := strings.Join(strings.Fields(r.PostFormValue("display_name")), " ")
	if msg := checkDisplayName(name); msg != "" {
		forms := h.accountForms(v)
		forms.DisplayName, forms.NameError = name, msg
		h.render(w, r, http.StatusUnprocessableEntity, views.AccountPage(forms))
		return
	}
	if err := h.Users.SetDisplayName(r.Context(), v.UserID, name); err != nil {
		h.serverError(w, r, err)
		return
	}
	if name == "" {
		h.flash(r, `Your display name is cleared: your public photos show "`+vocab.MemberUploader+`".`)
	} else {
		h.flash(r, "Your public photos now show "+name+".")
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// checkDisplayName says what is wrong with a (trimmed) display name.
func checkDisplayName(name string) string {
	if utf8.RuneCountInString(name) > vocab.MaxDisplayName {
		return "Choose a name of at most 40 characters."
	}
	for _, c := range name {
		// Control characters, and the ones that reverse text, which could
		// make a name read as something else.
		if unicode.IsControl(c) || (c >= '\u202a' && c <= '\u202e') || (c >= '\u2066' && c <= '\u2069') {
			return "A name cannot hold control characters."
		}
	}
	if strings.EqualFold(name, vocab.GuestUploader) || strings.EqualFold(name, vocab.MemberUploader) {
		return `"` + name + `" is what photos show without a name; choose another.`
	}
	return ""
}
