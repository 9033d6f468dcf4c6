-- A KB notification that arrives while a sync runs must not be lost when that sync reschedules
-- its job: remember when the job was claimed and when it was last notified (src/sync/jobs.rs).
ALTER TABLE app.sync_jobs
    ADD COLUMN claimed_at  timestamptz,
    ADD COLUMN notified_at timestamptz;
