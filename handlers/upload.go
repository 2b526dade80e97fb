package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"captionai/db"
	"captionai/imagefile"
	"captionai/jobs"
	"captionai/views"
	"captionai/vocab"
)

// staged is one uploaded file held in a temporary file until the whole
// request has been checked.
type staged struct {
	name string
	tmp  *os.File
	size int64
	info imagefile.Info
	err  string
}

// uploadError is a refusal of the whole request.
type uploadError struct {
	status     int
	message    string
	files      []views.FileError
	retryAfter time.Duration
}

// upload takes one or more files in the repeated form field "image". It
// stores nothing unless every file is acceptable, then inserts the rows and
// their caption jobs in one transaction.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request) {
	lim := h.Limits
	viewer := viewerFrom(r.Context())
	maxFiles := lim.MaxFiles
	if !viewer.SignedIn() {
		// A guest over quota is refused before the body is read.
		used, err := h.Rates.Used(r.Context(), h.guestUploads(), clientIP(r).String())
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		left := max(lim.GuestUploads-used, 0)
		if left == 0 || r.ContentLength > bodyLimit(left, lim.MaxFileBytes) && r.ContentLength <= bodyLimit(maxFiles, lim.MaxFileBytes) {
			h.refuseUpload(w, r, h.overQuota(left))
			return
		}
		maxFiles = min(maxFiles, left)
	}
	if r.ContentLength > bodyLimit(lim.MaxFiles, lim.MaxFileBytes) {
		h.refuseUpload(w, r, h.tooLarge())
		return
	}
	// A guest's body may hold no more files than the quota has left.
	r.Body = http.MaxBytesReader(w, r.Body, bodyLimit(maxFiles, lim.MaxFileBytes))

	var fields uploadFields
	files, uerr := h.stage(r, &fields)
	if uerr != nil && uerr.status == http.StatusRequestEntityTooLarge && maxFiles < lim.MaxFiles {
		uerr = h.overQuota(maxFiles)
	}
	defer func() {
		for _, f := range files {
			f.tmp.Close()
			os.Remove(f.tmp.Name())
		}
	}()
	if uerr == nil && fields.visibility != "" && !vocab.ValidVisibility(fields.visibility) {
		uerr = &uploadError{status: http.StatusUnprocessableEntity, message: "Choose who can see the photos: public, unlisted or private."}
	}
	if uerr == nil && !viewer.SignedIn() {
		// Counted as made, atomically: concurrent uploads cannot share one
		// slot, and deleting a photo does not give its slot back.
		wait, err := h.Rates.Take(r.Context(), h.guestUploads(), clientIP(r).String(), len(files))
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		if wait > 0 {
			used, _ := h.Rates.Used(r.Context(), h.guestUploads(), clientIP(r).String())
			uerr = h.overQuota(max(lim.GuestUploads-used, 0))
		}
	}
	if uerr != nil {
		h.refuseUpload(w, r, uerr)
		return
	}

	// Owner and visibility: uploads default to unlisted, or to the
	// account's last choice.
	var userID, guestID *uuid.UUID
	var ip *netip.Addr
	vis := fields.visibility
	if viewer.SignedIn() {
		userID = &viewer.UserID
		if vis != "" {
			if err := h.Users.SetLastVisibility(r.Context(), viewer.UserID, vis); err != nil {
				h.serverError(w, r, err)
				return
			}
		}
		vis = cmp.Or(vis, h.defaultVisibility(r))
	} else {
		g, err := h.guestID(r)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		a := clientIP(r)
		guestID, ip = &g, &a
		vis = cmp.Or(vis, vocab.Unlisted)
	}

	batchID := uuid.New()
	imgs := make([]db.Image, len(files))
	for i, f := range files {
		id := uuid.New()
		imgs[i] = db.Image{
			ID: id, BatchID: batchID, StorageKey: storageKey(id, f.info.ContentType),
			ContentType: f.info.ContentType, OriginalName: f.name, SizeBytes: f.size,
			Width: f.info.Width, Height: f.info.Height,
			UserID: userID, GuestID: guestID, Visibility: vis, UploaderIP: ip,
		}
	}
	if err := h.store(r.Context(), files, imgs); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.Log.Info("upload accepted", "batch", batchID, "files", len(imgs))

	switch {
	case wantsJSON(r):
		out := make([]imageJSON, len(imgs))
		for i, img := range imgs {
			out[i] = newImageJSON(img)
		}
		h.writeJSON(w, http.StatusCreated, map[string]any{"batch_id": batchID, "images": out})
	case isHTMX(r):
		h.render(w, r, http.StatusCreated, views.UploadResult(batchID.String(), toViews(imgs, viewer)))
	case len(imgs) == 1:
		http.Redirect(w, r, "/images/"+imgs[0].ID.String(), http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/batches/"+batchID.String(), http.StatusSeeOther)
	}
}

// store saves the files, then commits rows and jobs together. If the
// transaction fails, the saved files are removed again.
func (h *Handler) store(ctx context.Context, files []*staged, imgs []db.Image) error {
	var saved []string
	cleanup := func() {
		for _, key := range saved {
			if err := h.Files.Delete(context.WithoutCancel(ctx), key); err != nil {
				h.Log.Error("removing file of failed upload", "key", key, "err", err)
			}
		}
	}
	for i, f := range files {
		if _, err := f.tmp.Seek(0, io.SeekStart); err != nil {
			cleanup()
			return err
		}
		if _, err := h.Files.Put(ctx, imgs[i].StorageKey, f.tmp); err != nil {
			cleanup()
			return err
		}
		saved = append(saved, imgs[i].StorageKey)
	}
	if err := h.insertImages(ctx, imgs); err != nil {
		cleanup()
		return err
	}
	return nil
}

// insertImages inserts the rows and their caption jobs in one transaction.
func (h *Handler) insertImages(ctx context.Context, imgs []db.Image) error {
	tx, err := h.DB.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	args := make([]river.JobArgs, len(imgs))
	for i, img := range imgs {
		args[i] = jobs.CaptionArgs{ImageID: img.ID}
	}
	ids, err := h.Jobs.InsertManyTx(ctx, tx, args...)
	if err != nil {
		return err
	}
	for i := range imgs {
		imgs[i].JobID = &ids[i]
	}
	if err := db.InsertImagesTx(ctx, tx, imgs); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// uploadFields are the form's other fields.
type uploadFields struct {
	visibility string // empty: the default for the uploader
}

// bodyLimit is the largest body that n files of up to maxFile bytes need,
// multipart framing and the other fields included.
func bodyLimit(n int, maxFile int64) int64 { return int64(n)*(maxFile+64<<10) + 1<<20 }

func (h *Handler) tooLarge() *uploadError {
	return &uploadError{status: http.StatusRequestEntityTooLarge,
		message: fmt.Sprintf("The upload is too large. Send at most %d files of up to %d MB each.", h.Limits.MaxFiles, h.Limits.MaxFileBytes>>20)}
}

func (h *Handler) overQuota(left int) *uploadError {
	remain := fmt.Sprintf("%d are left", left)
	switch left {
	case 0:
		remain = "none are left"
	case 1:
		remain = "1 is left"
	}
	return &uploadError{status: http.StatusTooManyRequests, retryAfter: time.Hour, message: fmt.Sprintf(
		"Guests can upload %s an hour from one network address, and %s for now. Nothing was uploaded. Sign up (it is free) to upload more.",
		views.Plural(h.Limits.GuestUploads, "photo"), remain)}
}

// defaultVisibility is what the upload form preselects: the account's last
// choice, else unlisted.
func (h *Handler) defaultVisibility(r *http.Request) string {
	v := viewerFrom(r.Context())
	if !v.SignedIn() {
		return vocab.Unlisted
	}
	u, err := h.Users.UserByID(r.Context(), v.UserID)
	if err != nil || u.LastVisibility == "" {
		return vocab.Unlisted
	}
	return u.LastVisibility
}

// stage reads the multipart body part by part into temporary files and
// checks each one. It reads the whole body even after a problem, so the
// browser gets to see the answer instead of a reset connection.
func (h *Handler) stage(r *http.Request, fields *uploadFields) ([]*staged, *uploadError) {
	lim := h.Limits
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &uploadError{status: http.StatusBadRequest, message: "Choose at least one image to upload."}
	}
	var files []*staged
	count := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return files, h.readError(err)
		}
		if part.FormName() == "visibility" {
			b, _ := io.ReadAll(io.LimitReader(part, 32))
			fields.visibility = strings.TrimSpace(string(b))
			continue
		}
		if part.FormName() != "image" {
			part.Close()
			continue
		}
		badName := strings.ContainsFunc(part.FileName(), unicode.IsControl)
		name := cleanName(part.FileName())
		if name == "" {
			// An empty file input still sends one nameless, empty part.
			if n, _ := io.Copy(io.Discard, part); n == 0 {
				continue
			}
			name = "unnamed file"
		}
		count++
		if count > lim.MaxFiles {
			io.Copy(io.Discard, part)
			continue
		}
		f, err := h.stageOne(part, name)
		if f != nil && f.err == "" && badName {
			f.err = "the file name contains a control character (such as %00); rename the file and try again"
		}
		if f != nil {
			files = append(files, f)
		}
		if err != nil {
			return files, h.readError(err)
		}
	}
	switch {
	case count == 0:
		return files, &uploadError{status: http.StatusBadRequest, message: "Choose at least one image to upload."}
	case count > lim.MaxFiles:
		return files, &uploadError{status: http.StatusRequestEntityTooLarge,
			message: fmt.Sprintf("You chose %d files; at most %d can be uploaded at once. Nothing was uploaded.", count, lim.MaxFiles)}
	}
	var bad []views.FileError
	status := http.StatusUnprocessableEntity
	for _, f := range files {
		if f.err != "" {
			bad = append(bad, views.FileError{Name: f.name, Message: f.err})
			if f.size > lim.MaxFileBytes {
				status = http.StatusRequestEntityTooLarge
			}
		}
	}
	if len(bad) > 0 {
		msg := "This file can't be used, so nothing was uploaded."
		if len(files) > 1 {
			msg = fmt.Sprintf("%d of %d files can't be used, so nothing was uploaded. Remove them and try again.", len(bad), len(files))
		}
		return files, &uploadError{status: status, message: msg, files: bad}
	}
	return files, nil
}

// readError is the answer to a body that could not be read to the end.
func (h *Handler) readError(err error) *uploadError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return h.tooLarge()
	}
	return &uploadError{status: http.StatusBadRequest, message: "The upload was cut off before it finished. Please try again."}
}

// stageOne copies one part to a temporary file and inspects it. A problem
// with the file itself goes in staged.err; the error return is for a body
// that could not be read.
func (h *Handler) stageOne(part *multipart.Part, name string) (*staged, error) {
	lim := h.Limits
	tmp, err := os.CreateTemp(h.TempDir, "captionai-upload-*")
	if err != nil {
		return nil, err
	}
	f := &staged{name: name, tmp: tmp}
	n, err := io.Copy(tmp, io.LimitReader(part, lim.MaxFileBytes+1))
	f.size = n
	if err != nil {
		return f, err
	}
	if n > lim.MaxFileBytes {
		rest, err := io.Copy(io.Discard, part)
		f.size += rest
		f.err = fmt.Sprintf("the file is %s; the limit is %d MB", views.HumanBytes(f.size), lim.MaxFileBytes>>20)
		return f, err
	}
	if n == 0 {
		f.err = "the file is empty (0 bytes)"
		return f, nil
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return f, err
	}
	info, err := imagefile.Inspect(tmp, lim.MaxPixels)
	if err != nil {
		if errors.Is(err, imagefile.ErrUnsupported) {
			f.err = "this is not a JPEG, PNG, GIF or WebP image (the content was checked, not the file name)"
		} else {
			f.err = err.Error()
		}
		return f, nil
	}
	if err := h.strip(f, info); err != nil {
		if !errors.Is(err, imagefile.ErrMalformed) {
			return f, err
		}
		f.err = "the file is damaged or incomplete (" + err.Error() + "), so it was not stored"
		return f, nil
	}
	return f, nil
}

// strip replaces the staged file with a copy without its metadata (GPS
// position, camera, names), keeping the colour profile and orientation,
// and records its size and upright dimensions. Nothing we store or serve
// keeps what the photo's metadata said.
func (h *Handler) strip(f *staged, info imagefile.Info) error {
	if _, err := f.tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	clean, err := os.CreateTemp(h.TempDir, "captionai-upload-*")
	if err != nil {
		return err
	}
	err = imagefile.Strip(clean, f.tmp, info.ContentType)
	// The original goes either way; a failed copy goes with it.
	f.tmp.Close()
	os.Remove(f.tmp.Name())
	f.tmp = clean
	if err != nil {
		return err
	}
	if f.size, err = clean.Seek(0, io.SeekCurrent); err != nil {
		return err
	}
	orientation, err := imagefile.Orientation(clean, info.ContentType)
	if err != nil {
		return err
	}
	info.Width, info.Height = imagefile.Upright(info.Width, info.Height, orientation)
	f.info = info
	return nil
}

func (h *Handler) refuseUpload(w http.ResponseWriter, r *http.Request, e *uploadError) {
	h.Log.Info("upload refused", "status", e.status, "reason", e.message, "files", len(e.files))
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(e.retryAfter)))
	}
	switch {
	case wantsJSON(r):
		type fileError struct {
			Name  string `json:"name"`
			Error string `json:"error"`
		}
		files := make([]fileError, len(e.files))
		for i, f := range e.files {
			files[i] = fileError{f.Name, f.Message}
		}
		h.writeJSON(w, e.status, map[string]any{"error": e.message, "files": files})
	case isHTMX(r):
		h.render(w, r, e.status, views.UploadErrors(views.UploadForm{Message: e.message, FileErrors: e.files}))
	default:
		form := h.uploadForm(r)
		form.Message, form.FileErrors = e.message, e.files
		// A body cut off mid-read has cancelled the request's context; the
		// page is still owed.
		latest, err := h.latest(context.WithoutCancel(r.Context()), r)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		h.render(w, r, e.status, views.HomePage(form, latest))
	}
}

func (h *Handler) uploadForm(r *http.Request) views.UploadForm {
	f := views.UploadForm{MaxFiles: h.Limits.MaxFiles, MaxMB: h.Limits.MaxFileBytes >> 20,
		MaxMP: h.Limits.MaxPixels / 1_000_000, Visibility: h.defaultVisibility(r)}
	if !viewerFrom(r.Context()).SignedIn() {
		f.GuestDays = h.Limits.GuestDays
	}
	return f
}

var extensions = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}

// storageKey spreads files over 256 directories by the id's first byte.
func storageKey(id uuid.UUID, contentType string) string {
	s := id.String()
	return "images/" + s[:2] + "/" + s + extensions[contentType]
}

// cleanName keeps the base name of what the browser sent, for display only.
func cleanName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = strings.TrimSpace(path.Base(name))
	if name == "." || name == "/" {
		return ""
	}
	name = strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return -1
		}
		return c
	}, name)
	if len(name) > 200 {
		name = name[:200]
	}
	return strings.ToValidUTF8(name, "")
}
