-- +goose Up
-- Roles live in the database. A role needs a verified address, so that
-- signing up with an address nobody has confirmed grants nothing. Admins
-- made by the old is_admin flag (granted to unverified sign-ups listed in
-- ADMIN_EMAILS) are not carried over: grant them again with
-- `captionai admin grant EMAIL`.
ALTER TABLE users
    ADD COLUMN role            text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
    ADD COLUMN role_granted_by text, -- 'cli', 'ADMIN_EMAILS', or the granting account's id
    ADD COLUMN verified_at     timestamptz,
    -- Part of every session's stamp: bumped to sign out an account's sessions.
    ADD COLUMN session_epoch   integer NOT NULL DEFAULT 0,
    ADD COLUMN last_visibility text CHECK (last_visibility IN ('public', 'unlisted', 'private')),
    ADD CONSTRAINT users_role_needs_verified CHECK (role = 'user' OR verified_at IS NOT NULL);
ALTER TABLE users DROP COLUMN is_admin;

-- Single-use tokens mailed to an account (password reset, address
-- verification). Only a SHA-256 hash of each token is kept.
CREATE TABLE account_tokens (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('reset', 'verify')),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose);
INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at, used_at)
    SELECT token_hash, user_id, 'reset', expires_at, used_at FROM password_resets;
DROP TABLE password_resets;

-- Events counted by per-key rate limits (sign-ups per address, guest
-- uploads per address, ...). Rows are what happened, not what still
-- exists: deleting an upload does not give its quota back.
CREATE TABLE rate_events (
    action text NOT NULL,
    key    text NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rate_events_key_idx ON rate_events (action, key, at);

-- Sign-in throttling counts failures per account and address pair too.
CREATE INDEX login_failures_pair_idx ON login_failures (lower(email), ip, at);

-- +goose Down
DROP INDEX login_failures_pair_idx;
DROP TABLE rate_events;
CREATE TABLE password_resets (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
INSERT INTO password_resets SELECT token_hash, user_id, expires_at, used_at FROM account_tokens WHERE purpose = 'reset';
DROP TABLE account_tokens;
ALTER TABLE users ADD COLUMN is_admin boolean NOT NULL DEFAULT false;
UPDATE users SET is_admin = true WHERE role = 'admin';
ALTER TABLE users DROP CONSTRAINT users_role_needs_verified,
    DROP COLUMN last_visibility, DROP COLUMN session_epoch, DROP COLUMN verified_at,
    DROP COLUMN role_granted_by, DROP COLUMN role;
