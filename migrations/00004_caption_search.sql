-- +goose Up
-- Full-text search over captions for the public gallery (English stemming:
-- "dogs running" finds "a dog runs").
ALTER TABLE images ADD COLUMN caption_search tsvector
    GENERATED ALWAYS AS (to_tsvector('english', coalesce(caption, ''))) STORED;
CREATE INDEX images_caption_search_idx ON images USING gin (caption_search);

-- +goose Down
DROP INDEX images_caption_search_idx;
ALTER TABLE images DROP COLUMN caption_search;
