-- Open pages hear of the club's changes (issue 13): every write to a table an open page's
-- change stamp reads notifies channel `kasa_live` with `club:<schema name>`, which each web
-- process passes to the streams of that club's open pages (`live::Change::Club`,
-- `web::pages::live`). The schema name is the club's URL key with a `t_` prefix: no name or
-- address of the club goes into a notification.
--
-- The stamps (`sync::views::stamp`, `sync::views::club_stamp`, `payment::stamp`) read
-- `bank_accounts`, `sync_runs` and `payment_stamp`; `payment_stamp` itself moves with every
-- change the fee pages show (in code, and through the triggers of 0008). Statement-level, so a
-- first sync of 100 000 rows notifies once per statement, and PostgreSQL delivers one
-- notification per transaction for equal payloads anyway. A rolled-back change notifies nobody.
-- Written to run again over itself (a schema brought back to an older version replays it).

CREATE OR REPLACE FUNCTION live_notify_club() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kasa_live', 'club:' || TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS bank_accounts_live_notify ON bank_accounts;
CREATE TRIGGER bank_accounts_live_notify
    AFTER INSERT OR UPDATE OR DELETE ON bank_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION live_notify_club();
DROP TRIGGER IF EXISTS sync_runs_live_notify ON sync_runs;
CREATE TRIGGER sync_runs_live_notify
    AFTER INSERT OR UPDATE OR DELETE ON sync_runs
    FOR EACH STATEMENT EXECUTE FUNCTION live_notify_club();
DROP TRIGGER IF EXISTS payment_stamp_live_notify ON payment_stamp;
CREATE TRIGGER payment_stamp_live_notify
    AFTER INSERT OR UPDATE OR DELETE ON payment_stamp
    FOR EACH STATEMENT EXECUTE FUNCTION live_notify_club();
