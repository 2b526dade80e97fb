-- +goose Up
-- Every caption an image has had: the model's, and each edit by its owner
-- or staff. images.caption is the current one (the search index reads it);
-- images.caption_version says which version that is.
CREATE TABLE caption_versions (
    id         bigserial PRIMARY KEY,
    image_id   uuid NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    text       text NOT NULL,
    source     text NOT NULL CHECK (source IN ('model', 'owner', 'staff')),
    model      text,
    author     uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX caption_versions_image_idx ON caption_versions (image_id, created_at);

ALTER TABLE images
    ADD COLUMN caption_version bigint REFERENCES caption_versions (id) ON DELETE SET NULL,
    ADD COLUMN caption_source  text NOT NULL DEFAULT 'model' CHECK (caption_source IN ('model', 'owner', 'staff'));

-- One vote per account per caption version, changeable.
CREATE TABLE caption_ratings (
    version_id bigint NOT NULL REFERENCES caption_versions (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating     text NOT NULL CHECK (rating IN ('good', 'bad')),
    rated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (version_id, user_id)
);

-- Captions written before this migration become their first version.
INSERT INTO caption_versions (image_id, text, source, model, created_at)
    SELECT id, caption, 'model', model, coalesce(captioned_at, created_at) FROM images WHERE caption IS NOT NULL;
UPDATE images i SET caption_version = v.id FROM caption_versions v WHERE v.image_id = i.id;

-- +goose Down
ALTER TABLE images DROP COLUMN caption_source, DROP COLUMN caption_version;
DROP TABLE caption_ratings;
DROP TABLE caption_versions;
