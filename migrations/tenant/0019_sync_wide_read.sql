-- Notification-driven syncs read a short window (since the watermark, with a margin); the wide
-- overlap (7 days before the watermark) is read by the periodic run, which catches late
-- corrections. `wide_synced_at` is when a sync last applied a wide read (or the whole history):
-- a notified run reads wide too when the last wide read is older than the poll interval, so an
-- account notified every few minutes still gets its wide re-read (docs/decisions.md, "Sync").
ALTER TABLE bank_accounts ADD COLUMN IF NOT EXISTS wide_synced_at timestamptz;
