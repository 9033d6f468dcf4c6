-- Typed boundaries (issue 14): the kind of a sync job's last problem is stored beside its
-- technical text, so pages translate the kind instead of classifying the text
-- (src/sync/outcome.rs, `Problem`). Connection statuses are the three Kasa writes.

ALTER TABLE app.sync_jobs ADD COLUMN problem text
    CHECK (problem IN ('unavailable', 'shifting', 'blocked', 'rate_limited', 'balances',
                       'consent', 'token', 'account', 'other'));

-- The kind of a problem text stored before the kind existed: the rules the web layer applied
-- to the text on every page view, applied once. Also used by tenant/0007_sync_problem.sql for
-- the accounts' copies (every tenant migration runs after the control plane's).
CREATE OR REPLACE FUNCTION app.legacy_sync_problem(error text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT CASE
        WHEN lower(error) LIKE 'kb is unavailable%changed during paging%'
            OR lower(error) LIKE '%kept changing%' THEN 'shifting'
        WHEN lower(error) LIKE 'kb is unavailable%' THEN 'unavailable'
        WHEN lower(error) LIKE 'kb rate limit%61-minute%' THEN 'blocked'
        WHEN lower(error) LIKE 'kb rate limit%'
            OR lower(error) LIKE 'balances: kb rate limit%' THEN 'rate_limited'
        WHEN lower(error) LIKE 'balances:%' THEN 'balances'
        WHEN lower(error) LIKE 'kb consent is no longer valid%' THEN 'consent'
        WHEN lower(error) LIKE 'kb rejected the access token%' THEN 'token'
        WHEN lower(error) LIKE 'account not available%' THEN 'account'
        ELSE 'other'
    END $$;

UPDATE app.sync_jobs SET problem = app.legacy_sync_problem(last_error)
    WHERE last_error IS NOT NULL;

ALTER TABLE app.sync_jobs ADD CONSTRAINT sync_jobs_problem_with_text
    CHECK ((problem IS NULL) = (last_error IS NULL));

-- 'registering' and 'authorizing' were never written: a journey's steps live in
-- app.consent_flows until the tokens are in hand (src/consent/status.rs, `ConnectionStatus`).
ALTER TABLE app.bank_connections DROP CONSTRAINT IF EXISTS bank_connections_status_check;
ALTER TABLE app.bank_connections ADD CONSTRAINT bank_connections_status_check
    CHECK (status IN ('active', 'broken', 'disconnected'));
