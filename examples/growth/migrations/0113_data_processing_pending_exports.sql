-- data_processing writes a day's export after the roll-up commits (app/workers/data_processing.py): the
-- roll-up marks the day pending (exported_at NULL) in its transaction, the export sets exported_at.
ALTER TABLE daily_exports ALTER COLUMN exported_at DROP NOT NULL;
ALTER TABLE daily_exports ALTER COLUMN exported_at DROP DEFAULT;
ALTER TABLE daily_exports ADD COLUMN IF NOT EXISTS rolled_up_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS daily_exports_pending_idx ON daily_exports (day) WHERE exported_at IS NULL;
