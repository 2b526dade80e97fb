-- +goose Up
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    is_admin      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));

-- scs session store (alexedwards/scs/pgxstore).
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- An image belongs to an account (user_id) or to a guest's session
-- (guest_id), never both; older rows have neither and stay public.
ALTER TABLE images
    ADD COLUMN user_id     uuid REFERENCES users (id) ON DELETE CASCADE,
    ADD COLUMN guest_id    uuid,
    ADD COLUMN visibility  text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'unlisted', 'private')),
    ADD COLUMN uploader_ip inet,
    ADD CONSTRAINT images_one_owner CHECK (user_id IS NULL OR guest_id IS NULL);
CREATE INDEX images_user_idx ON images (user_id, created_at DESC) WHERE user_id IS NOT NULL;
CREATE INDEX images_guest_idx ON images (guest_id, created_at DESC) WHERE guest_id IS NOT NULL;
CREATE INDEX images_public_idx ON images (created_at DESC) WHERE visibility = 'public';
CREATE INDEX images_guest_ip_idx ON images (uploader_ip, created_at) WHERE guest_id IS NOT NULL;

CREATE TABLE login_failures (
    id    bigserial PRIMARY KEY,
    email text NOT NULL,
    ip    inet,
    at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_email_idx ON login_failures (lower(email), at);
CREATE INDEX login_failures_ip_idx ON login_failures (ip, at);

-- Only a hash of each reset token is kept.
CREATE TABLE password_resets (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);

-- +goose Down
DROP TABLE password_resets;
DROP TABLE login_failures;
ALTER TABLE images DROP CONSTRAINT images_one_owner,
    DROP COLUMN uploader_ip, DROP COLUMN visibility, DROP COLUMN guest_id, DROP COLUMN user_id;
DROP TABLE sessions;
DROP TABLE users;
