-- +goose Up
-- The name an account shows beside its public photos, chosen on /account.
-- NULL (the default) shows "member": never the email address.
ALTER TABLE users
    ADD COLUMN display_name text CHECK (display_name IS NULL OR char_length(display_name) BETWEEN 1 AND 40);

-- +goose Down
ALTER TABLE users DROP COLUMN display_name;
