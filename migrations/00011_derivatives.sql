-- +goose Up
-- Display sizes of each image, made by the worker (imagefile.Derive): a
-- 480 px card and a 1600 px view, WebP, upright, without metadata. Their
-- files are content-addressed (sha256 in the key and the URL), so a URL
-- names one set of bytes for ever. They go with their image.
CREATE TABLE image_derivatives (
    image_id     uuid NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('card', 'view')),
    storage_key  text NOT NULL UNIQUE,
    content_type text NOT NULL,
    width        int NOT NULL CHECK (width > 0),
    height       int NOT NULL CHECK (height > 0),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes   bigint NOT NULL CHECK (size_bytes > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (image_id, kind)
);

-- +goose Down
DROP TABLE image_derivatives;
