-- +goose Up
-- How sure the model was of each of its captions: its calibrated chance
-- that the caption names the photo's subject right, and that chance in
-- words (vocab.Sure, Probable, Unsure). NULL for people's edits and for
-- models without calibration (and remote engines). The image's current
-- caption's values are read through images.caption_version, so an edit
-- (a version without them) shows plainly and a restore brings them back.
ALTER TABLE caption_versions
    ADD COLUMN confidence real CHECK (confidence >= 0 AND confidence <= 1),
    ADD COLUMN certainty  text CHECK (certainty IN ('sure', 'probable', 'unsure')),
    ADD CONSTRAINT caption_versions_certainty_needs_confidence CHECK (certainty IS NULL OR confidence IS NOT NULL),
    ADD CONSTRAINT caption_versions_people_unmeasured CHECK (source = 'model' OR (confidence IS NULL AND certainty IS NULL));

-- +goose Down
ALTER TABLE caption_versions DROP COLUMN certainty, DROP COLUMN confidence;
