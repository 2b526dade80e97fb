package db

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"captionai/vocab"
)

// Report is one visitor's report of an image.
type Report struct {
	ImageID       uuid.UUID
	ReporterUser  uuid.UUID // an account, or
	ReporterGuest uuid.UUID // a guest session
	ReporterIP    netip.Addr
	Reason        string // a vocab.ReportReasons word
	Note          string
}

// CreateReport files a report. created is false when the reporter already
// has an open report of the image (the first one stands).
func (s *Store) CreateReport(ctx context.Context, r Report) (created bool, err error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO reports (image_id, reporter_user, reporter_guest, reporter_ip, reason, note)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		r.ImageID, nullUUID(r.ReporterUser), nullUUID(r.ReporterGuest), r.ReporterIP, r.Reason, r.Note)
	if err != nil {
		return false, fmt.Errorf("filing report: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Flagged is an image in the review queue: open reports against it, or
// held by the NSFW classifier, or both.
type Flagged struct {
	Image      Image
	OwnerEmail string         // "" for a guest's upload
	Reasons    map[string]int // open reports per reason
	Notes      []string       // the reports' notes, oldest first
	FirstAt    time.Time      // the oldest open report, or the upload for a held image
}

// ReviewQueue returns the images with open reports or held for review,
// those waiting longest first.
func (s *Store) ReviewQueue(ctx context.Context, noPrivate bool, limit int) ([]Flagged, error) {
	// One query, no join, so imageColumns need no table alias.
	rows, err := s.pool.Query(ctx, `SELECT `+imageColumns+`,
			coalesce((SELECT email FROM users u WHERE u.id = images.user_id), ''),
			coalesce((SELECT min(created_at) FROM reports r WHERE r.image_id = images.id AND r.resolved_at IS NULL), created_at) AS first_at,
			coalesce((SELECT jsonb_object_agg(reason, n) FROM (SELECT reason, count(*) AS n FROM reports r
				WHERE r.image_id = images.id AND r.resolved_at IS NULL GROUP BY reason) c), '{}'),
			coalesce((SELECT array_agg(note ORDER BY created_at) FROM reports r
				WHERE r.image_id = images.id AND r.resolved_at IS NULL AND note <> ''), '{}')
		FROM images
		WHERE (moderation = $2 OR id IN (SELECT image_id FROM reports WHERE resolved_at IS NULL))
		  AND (NOT $3 OR visibility <> $4)
		ORDER BY first_at LIMIT $1`, limit, vocab.Held, noPrivate, vocab.Private)
	if err != nil {
		return nil, fmt.Errorf("loading the review queue: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Flagged, error) {
		var f Flagged
		dest := append(imageDest(&f.Image), &f.OwnerEmail, &f.FirstAt, &f.Reasons, &f.Notes)
		return f, r.Scan(dest...)
	})
	if err != nil {
		return nil, fmt.Errorf("loading the review queue: %w", err)
	}
	return out, nil
}

// ResolveReportsTx closes the open reports of an image as answered by
// staff member by with resolution (the action taken).
func ResolveReportsTx(ctx context.Context, tx pgx.Tx, imageID, by uuid.UUID, resolution string) error {
	if _, err := tx.Exec(ctx, `UPDATE reports SET resolved_at = now(), resolved_by = $2, resolution = $3
		WHERE image_id = $1 AND resolved_at IS NULL`, imageID, by, resolution); err != nil {
		return fmt.Errorf("resolving reports: %w", err)
	}
	return nil
}

// SetModerationTx sets an image's moderation state and the reason shown to
// its owner, and notifies its streams.
func SetModerationTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, state, reason string) error {
	if _, err := tx.Exec(ctx, `UPDATE images SET moderation = $2, moderation_reason = nullif($3, ''), hidden_by_ban = false
		WHERE id = $1`, id, state, reason); err != nil {
		return fmt.Errorf("moderating %s: %w", id, err)
	}
	return notify(ctx, tx, id)
}

// SetCaptionTx makes text the image's caption, as a new version written by
// a person (source vocab.ByOwner or ByStaff, author their account). The
// version has no confidence: a person's caption is shown plainly.
func SetCaptionTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, text, source string, author uuid.UUID) error {
	if _, err := tx.Exec(ctx, `WITH v AS (INSERT INTO caption_versions (image_id, text, source, author)
			VALUES ($1, $2, $3, $4) RETURNING id)
		UPDATE images SET caption = $2, caption_source = $3, caption_version = (SELECT id FROM v) WHERE id = $1`,
		id, text, source, nullUUID(author)); err != nil {
		return fmt.Errorf("setting the caption of %s: %w", id, err)
	}
	return notify(ctx, tx, id)
}

// BanUserTx bans an account: it cannot sign in or upload, its sessions end
// (the session epoch moves), and its public images are hidden.
func BanUserTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, reason string) (hidden int64, err error) {
	tag, err := tx.Exec(ctx, `UPDATE users SET banned_at = now(), ban_reason = $2, session_epoch = session_epoch + 1
		WHERE id = $1 AND banned_at IS NULL`, id, reason)
	if err != nil {
		return 0, fmt.Errorf("banning %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return 0, nil
	}
	tag, err = tx.Exec(ctx, `UPDATE images SET moderation = $3, moderation_reason = $4, hidden_by_ban = true
		WHERE user_id = $1 AND visibility = $2 AND moderation = $5`,
		id, vocab.Public, vocab.Hidden, "The uploader's account is banned.", vocab.ModOK)
	if err != nil {
		return 0, fmt.Errorf("hiding the images of %s: %w", id, err)
	}
	return tag.RowsAffected(), nil
}

// UnbanUserTx lifts a ban and shows again the images the ban hid.
func UnbanUserTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	if _, err := tx.Exec(ctx, `UPDATE users SET banned_at = NULL, ban_reason = NULL WHERE id = $1`, id); err != nil {
		return fmt.Errorf("unbanning %s: %w", id, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE images SET moderation = $2, moderation_reason = NULL, hidden_by_ban = false
		WHERE user_id = $1 AND hidden_by_ban`, id, vocab.ModOK); err != nil {
		return fmt.Errorf("showing the images of %s: %w", id, err)
	}
	return nil
}

// Audit is one moderation or role action.
type Audit struct {
	ID          int64 // set when read
	At          time.Time
	Actor       uuid.UUID // the staff member
	ActorEmail  string
	Action      string // a vocab.Act... word
	TargetImage uuid.UUID
	TargetUser  uuid.UUID
	TargetEmail string
	Reason      string
}

// AuditTx records an action in the caller's transaction, which makes it.
func AuditTx(ctx context.Context, tx pgx.Tx, a Audit) error {
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, actor_email, action, target_image, target_user, target_email, reason)
		VALUES ($1, $2, $3, $4, $5, nullif($6, ''), $7)`,
		nullUUID(a.Actor), a.ActorEmail, a.Action, nullUUID(a.TargetImage), nullUUID(a.TargetUser), a.TargetEmail, a.Reason); err != nil {
		return fmt.Errorf("recording %s: %w", a.Action, err)
	}
	return nil
}

// AuditFilter narrows the audit log: by staff member and by target (an
// image or account id, or an email address).
type AuditFilter struct {
	Actor  string // email
	Target string
}

// AuditCursor is a place in the newest-first audit log: the log goes on
// with the actions after it. The id breaks ties of at, which the actions
// of one transaction (a bulk hide) share; a zero id means "before At". A
// zero AuditCursor is the start.
type AuditCursor struct {
	At time.Time
	ID int64
}

// AuditLog returns actions newest first, after the cursor.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter, after AuditCursor, limit int) ([]Audit, error) {
	if after.At.IsZero() {
		after = AuditCursor{At: time.Now().Add(time.Hour)}
	}
	rows, err := s.pool.Query(ctx, `SELECT id, at, coalesce(actor, '00000000-0000-0000-0000-000000000000'), actor_email, action,
			coalesce(target_image, '00000000-0000-0000-0000-000000000000'), coalesce(target_user, '00000000-0000-0000-0000-000000000000'),
			coalesce(target_email, ''), reason
		FROM audit_log
		WHERE (at, id) < ($1, $5) AND ($3 = '' OR lower(actor_email) = lower($3))
		  AND ($4 = '' OR target_image::text = $4 OR target_user::text = $4 OR lower(target_email) = lower($4))
		ORDER BY at DESC, id DESC LIMIT $2`, after.At, limit, f.Actor, f.Target, after.ID)
	if err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Audit, error) {
		var a Audit
		err := r.Scan(&a.ID, &a.At, &a.Actor, &a.ActorEmail, &a.Action, &a.TargetImage, &a.TargetUser, &a.TargetEmail, &a.Reason)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	return out, nil
}

// UserSummary is an account with its counts, for the admin users page.
type UserSummary struct {
	User
	Uploads        int
	ReportsAgainst int // reports of its images
	ReportsFiled   int
}

// UserSummaries lists accounts whose address contains query (all when
// empty), by address.
func (s *Store) UserSummaries(ctx context.Context, query string, limit int) ([]UserSummary, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+`,
			(SELECT count(*) FROM images i WHERE i.user_id = users.id),
			(SELECT count(*) FROM reports r JOIN images i ON i.id = r.image_id WHERE i.user_id = users.id),
			(SELECT count(*) FROM reports r WHERE r.reporter_user = users.id)
		FROM users WHERE $1 = '' OR strpos(lower(email), lower($1)) > 0
		ORDER BY lower(email) LIMIT $2`, query, limit)
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserSummary, error) {
		var u UserSummary
		err := r.Scan(append(userDest(&u.User), &u.Uploads, &u.ReportsAgainst, &u.ReportsFiled)...)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	return out, nil
}

// AdminFilter narrows the admin image list; empty fields match all.
type AdminFilter struct {
	Status     string
	Visibility string
	Moderation string // vocab.ModOK, Held or Hidden
	Reported   bool   // only images with open reports
	NoPrivate  bool   // leave private images out (for moderators)
}

// AdminImage is an image with what staff need to see beside it.
type AdminImage struct {
	Image
	OwnerEmail  string // "" for a guest's upload
	OpenReports int
}

// AdminImages pages through every image matching f after the cursor,
// newest first.
func (s *Store) AdminImages(ctx context.Context, f AdminFilter, after Cursor, limit int) ([]AdminImage, error) {
	if after.CreatedAt.IsZero() {
		after = Cursor{CreatedAt: time.Now().Add(time.Hour)}
	}
	rows, err := s.pool.Query(ctx, `SELECT `+imageColumns+`,
			coalesce((SELECT email FROM users u WHERE u.id = images.user_id), ''),
			(SELECT count(*) FROM reports r WHERE r.image_id = images.id AND r.resolved_at IS NULL) AS open_reports
		FROM images
		WHERE (created_at, id) < ($1, $9) AND ($3 = '' OR status = $3) AND ($4 = '' OR visibility = $4) AND ($5 = '' OR moderation = $5)
		  AND (NOT $6 OR EXISTS (SELECT 1 FROM reports r WHERE r.image_id = images.id AND r.resolved_at IS NULL))
		  AND (NOT $7 OR visibility <> $8)
		ORDER BY created_at DESC, id DESC LIMIT $2`, after.CreatedAt, limit, f.Status, f.Visibility, f.Moderation, f.Reported, f.NoPrivate, vocab.Private, after.ID)
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AdminImage, error) {
		var a AdminImage
		err := r.Scan(append(imageDest(&a.Image), &a.OwnerEmail, &a.OpenReports)...)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	return out, nil
}

// Audit records an action that has no transaction of its own to join.
func (s *Store) Audit(ctx context.Context, a Audit) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("recording %s: %w", a.Action, err)
	}
	defer tx.Rollback(ctx)
	if err := AuditTx(ctx, tx, a); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
