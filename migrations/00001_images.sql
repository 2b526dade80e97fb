-- +goose Up
CREATE TABLE images (
    id            uuid PRIMARY KEY,
    batch_id      uuid NOT NULL,
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'captioning', 'captioned', 'failed')),
    storage_key   text NOT NULL,
    content_type  text NOT NULL,
    original_name text NOT NULL DEFAULT '',
    size_bytes    bigint NOT NULL,
    width         integer NOT NULL,
    height        integer NOT NULL,
    job_id        bigint,
    caption       text,
    model         text,
    error         text,
    encode_ms     double precision,
    decode_ms     double precision,
    total_ms      double precision,
    created_at    timestamptz NOT NULL DEFAULT now(),
    captioned_at  timestamptz
);

CREATE INDEX images_batch_id_idx ON images (batch_id, created_at);
CREATE INDEX images_created_at_idx ON images (created_at DESC);
CREATE INDEX images_unfinished_idx ON images (status) WHERE status IN ('queued', 'captioning');

-- +goose Down
DROP TABLE images;
