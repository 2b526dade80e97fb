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
	"strings"
	"time"

	"github.com/google/uuid"

	"captionai/db"
	"captionai/imagefile"
	"captionai/views"
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
	status  int
	message string
	files   []views.FileError
}

// upload takes one or more files in the repeated form field "image". It
// stores nothing unless every file is acceptable, then inserts the rows and
// their caption jobs in one transaction.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request) {
	lim := h.Limits
	// Room for every allowed file plus the multipart framing.
	r.Body = http.MaxBytesReader(w, r.Body, int64(lim.MaxFiles)*(lim.MaxFileBytes+64<<10)+1<<20)

	var fields uploadFields
	files, uerr := h.stage(r, &fields)
	defer func() {
		for _, f := range files {
			f.tmp.Close()
			os.Remove(f.tmp.Name())
		}
	}()
	if uerr == nil {
		uerr = h.checkUploader(r, fields, len(files))
	}
	if uerr != nil {
		h.refuseUpload(w, r, uerr)
		return
	}

	// Owner and visibility: an account's uploads default to public, a
	// guest's to unlisted.
	viewer := viewerFrom(r.Context())
	var userID, guestID *uuid.UUID
	var ip *netip.Addr
	vis := fields.visibility
	if viewer.SignedIn() {
		userID = &viewer.UserID
		vis = cmp.Or(vis, db.Public)
	} else {
		g, err := h.guestID(r)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		a := clientIP(r)
		guestID, ip = &g, &a
		vis = cmp.Or(vis, db.Unlisted)
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
	if err := h.DB.CreateImages(ctx, imgs, h.Jobs.EnqueueCaption); err != nil {
		cleanup()
		return err
	}
	return nil
}

// uploadFields are the form's other fields.
type uploadFields struct {
	visibility string // empty: the default for the uploader
}

// checkUploader applies the form's fields and the guests' upload limit.
func (h *Handler) checkUploader(r *http.Request, f uploadFields, n int) *uploadError {
	if f.visibility != "" && !validVisibility(f.visibility) {
		return &uploadError{status: http.StatusUnprocessableEntity, message: "Choose who can see the photos: public, unlisted or private."}
	}
	if viewerFrom(r.Context()).SignedIn() {
		return nil
	}
	used, err := h.DB.GuestUploadsSince(r.Context(), clientIP(r), time.Now().Add(-time.Hour))
	if err != nil {
		return &uploadError{status: http.StatusInternalServerError, message: "The server could not check the upload limit. Please try again."}
	}
	if used+n > h.Limits.GuestUploads {
		left := max(h.Limits.GuestUploads-used, 0)
		return &uploadError{status: http.StatusTooManyRequests, message: fmt.Sprintf(
			"Guests can upload %d photos an hour from one network address, and %d are left for now. Nothing was uploaded. Sign up (it is free) to upload more.",
			h.Limits.GuestUploads, left)}
	}
	return nil
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
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return files, &uploadError{status: http.StatusRequestEntityTooLarge,
					message: fmt.Sprintf("The upload is too large. Send at most %d files of up to %d MB each.", lim.MaxFiles, lim.MaxFileBytes>>20)}
			}
			return files, &uploadError{status: http.StatusBadRequest, message: "The upload was cut off before it finished. Please try again."}
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
		if f != nil {
			files = append(files, f)
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return files, &uploadError{status: http.StatusRequestEntityTooLarge,
					message: fmt.Sprintf("The upload is too large. Send at most %d files of up to %d MB each.", lim.MaxFiles, lim.MaxFileBytes>>20)}
			}
			return files, &uploadError{status: http.StatusBadRequest, message: "The upload was cut off before it finished. Please try again."}
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

// stageOne copies one part to a temporary file and inspects it. A problem
// with the file itself goes in staged.err; the error return is for a body
// that could not be read.
func (h *Handler) stageOne(part *multipart.Part, name string) (*staged, error) {
	lim := h.Limits
	tmp, err := os.CreateTemp("", "captionai-upload-*")
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
		f.err = fmt.Sprintf("the file is %s; the limit is %d MB", humanSize(f.size), lim.MaxFileBytes>>20)
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
	f.info = info
	return f, nil
}

func (h *Handler) refuseUpload(w http.ResponseWriter, r *http.Request, e *uploadError) {
	h.Log.Info("upload refused", "status", e.status, "reason", e.message, "files", len(e.files))
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
		gallery, err := h.gallery(r)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		h.render(w, r, e.status, views.HomePage(form, gallery))
	}
}

func (h *Handler) uploadForm(r *http.Request) views.UploadForm {
	f := views.UploadForm{MaxFiles: h.Limits.MaxFiles, MaxMB: h.Limits.MaxFileBytes >> 20,
		MaxMP: h.Limits.MaxPixels / 1_000_000, Visibility: db.Public}
	if !viewerFrom(r.Context()).SignedIn() {
		f.Visibility, f.GuestDays = db.Unlisted, h.Limits.GuestDays
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
	if len(name) > 200 {
		name = name[:200]
	}
	return strings.ToValidUTF8(name, "")
}

func humanSize(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KB", n>>10)
}
