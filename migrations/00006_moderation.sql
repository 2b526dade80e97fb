-- +goose Up
-- Moderation is a state of its own beside visibility: a held image waits
-- for review (the NSFW classifier flagged it), a hidden one was hidden by
-- staff. Either way only its owner and staff see it, and its owner cannot
-- change its visibility while it is hidden.
ALTER TABLE images
    ADD COLUMN moderation        text NOT NULL DEFAULT 'ok' CHECK (moderation IN ('ok', 'held', 'hidden')),
    ADD COLUMN moderation_reason text,
    ADD COLUMN hidden_by_ban     boolean NOT NULL DEFAULT false, -- undone when the owner is unbanned
    ADD COLUMN nsfw_scores       real[]; -- drawing, hentai, neutral, porn, sexy
CREATE INDEX images_moderation_idx ON images (created_at DESC) WHERE moderation <> 'ok';

ALTER TABLE users
    ADD COLUMN banned_at  timestamptz,
    ADD COLUMN ban_reason text;

-- A report of an image by a visitor: an account or a guest session.
CREATE TABLE reports (
    id             bigserial PRIMARY KEY,
    image_id       uuid NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    reporter_user  uuid REFERENCES users (id) ON DELETE SET NULL,
    reporter_guest uuid,
    reporter_ip    inet,
    reason         text NOT NULL CHECK (reason IN ('spam', 'sexual', 'violence', 'harassment', 'illegal', 'caption', 'other')),
    note           text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    created_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolved_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    resolution     text
);
-- One open report per reporter per image.
CREATE UNIQUE INDEX reports_open_user_idx ON reports (image_id, reporter_user) WHERE resolved_at IS NULL AND reporter_user IS NOT NULL;
CREATE UNIQUE INDEX reports_open_guest_idx ON reports (image_id, reporter_guest) WHERE resolved_at IS NULL AND reporter_guest IS NOT NULL;
CREATE INDEX reports_open_idx ON reports (created_at) WHERE resolved_at IS NULL;

-- Every moderation and role action: who, when, what and why.
CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        uuid REFERENCES users (id) ON DELETE SET NULL,
    actor_email  text NOT NULL, -- kept when the account goes
    action       text NOT NULL,
    target_image uuid,
    target_user  uuid,
    target_email text,
    reason       text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, at DESC);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE reports;
ALTER TABLE users DROP COLUMN ban_reason, DROP COLUMN banned_at;
DROP INDEX images_moderation_idx;
ALTER TABLE images DROP COLUMN nsfw_scores, DROP COLUMN hidden_by_ban, DROP COLUMN moderation_reason, DROP COLUMN moderation;
