-- Typed boundaries (issue 14): an account's last problem is stored as a kind beside its
-- technical text (src/sync/outcome.rs, `Problem`); a run's outcome and trigger are checked.

ALTER TABLE bank_accounts ADD COLUMN problem text
    CHECK (problem IN ('unavailable', 'shifting', 'blocked', 'rate_limited', 'balances',
                       'consent', 'token', 'account', 'other'));

-- Texts stored before the kind existed are classified once (app/0005_sync_problem.sql).
UPDATE bank_accounts SET problem = app.legacy_sync_problem(last_error)
    WHERE last_error IS NOT NULL;

ALTER TABLE bank_accounts ADD CONSTRAINT bank_accounts_problem_with_text
    CHECK ((problem IS NULL) = (last_error IS NULL));

ALTER TABLE sync_runs
    ADD CONSTRAINT sync_runs_outcome_check CHECK (outcome IN ('synced', 'partial', 'unchanged',
        'blocked', 'rate_limited', 'failed', 'disabled')),
    ADD CONSTRAINT sync_runs_trigger_check CHECK (trigger IN ('first', 'schedule',
        'notification', 'retry'));
