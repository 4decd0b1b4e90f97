-- Expand step (docs/migrations.md): a nullable column the running code can ignore, so the
-- version still serving during a gradual rollout keeps working against the new schema.
ALTER TABLE orders ADD COLUMN gift_note TEXT;
