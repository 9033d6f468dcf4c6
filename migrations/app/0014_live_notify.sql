-- Changes every Kasa process must hear about, through PostgreSQL's NOTIFY on channel
-- `kasa_live` (`live::Listener`). Triggers, not the code paths that write, so that no write
-- can forget to tell the others. A notification is delivered when its transaction commits,
-- and not at all when it rolls back.
--
-- * `people`: someone's account, a membership (role) or a club changed. Each process keeps the
--   signed-in people with their clubs and roles (`web::context`) and forgets them all.
-- * `session:<sha-256 of the session id, hex>`: a session was written or ended (sign-out,
--   password change, expiry). Each process forgets that one session. The id itself is a secret
--   and never goes into a notification.
-- * `all`: the sessions table was emptied: forget everything.

-- Notifies its trigger argument (`people`, `all`).
CREATE OR REPLACE FUNCTION app.live_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kasa_live', TG_ARGV[0]);
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_live_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON app.users
    FOR EACH STATEMENT EXECUTE FUNCTION app.live_notify('people');
CREATE TRIGGER memberships_live_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON app.memberships
    FOR EACH STATEMENT EXECUTE FUNCTION app.live_notify('people');
CREATE TRIGGER tenants_live_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON app.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION app.live_notify('people');

-- The session store's table, as `tower-sessions-sqlx-store` creates it (it runs
-- `CREATE TABLE IF NOT EXISTS` at start-up, after the migrations), so that the trigger has a
-- table to sit on.
CREATE TABLE IF NOT EXISTS app.sessions (
    id text PRIMARY KEY NOT NULL,
    data bytea NOT NULL,
    expiry_date timestamptz NOT NULL
);

CREATE OR REPLACE FUNCTION app.live_notify_session() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kasa_live',
        'session:' || encode(sha256(convert_to(OLD.id, 'UTF8')), 'hex'));
    RETURN NULL;
END;
$$;

CREATE TRIGGER sessions_live_notify
    AFTER UPDATE OR DELETE ON app.sessions
    FOR EACH ROW EXECUTE FUNCTION app.live_notify_session();
CREATE TRIGGER sessions_live_notify_truncate
    AFTER TRUNCATE ON app.sessions
    FOR EACH STATEMENT EXECUTE FUNCTION app.live_notify('all');
