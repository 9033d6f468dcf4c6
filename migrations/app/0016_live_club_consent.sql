-- Kept page contents (issue 13, `web::rendered`) and open pages hear of a club's bank
-- connection: its consent's state, expiry and broken reason, and which accounts it exposes
-- (the dashboard and the account page show them). Notifies `club:<schema name>` on channel
-- `kasa_live`, like the tenant triggers of tenant migrations 0018 and 0022, so a connection
-- renewed, broken or disconnected through another process (the sync worker, the bank's
-- redirect back) reaches every page. Token refreshes change none of these columns and notify
-- nobody.

CREATE OR REPLACE FUNCTION app.live_notify_club_of_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid;
    schema text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        tenant := OLD.tenant_id;
    ELSE
        tenant := NEW.tenant_id;
    END IF;
    SELECT t.schema_name INTO schema FROM app.tenants t WHERE t.id = tenant;
    IF schema IS NOT NULL THEN
        PERFORM pg_notify('kasa_live', 'club:' || schema);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER bank_connections_live_notify_ins_del
    AFTER INSERT OR DELETE ON app.bank_connections
    FOR EACH ROW EXECUTE FUNCTION app.live_notify_club_of_row();
CREATE TRIGGER bank_connections_live_notify_upd
    AFTER UPDATE ON app.bank_connections
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.consent_granted_at IS DISTINCT FROM NEW.consent_granted_at
                       OR OLD.consent_expires_at IS DISTINCT FROM NEW.consent_expires_at
                       OR OLD.broken_reason IS DISTINCT FROM NEW.broken_reason
                       OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id)
    EXECUTE FUNCTION app.live_notify_club_of_row();
CREATE TRIGGER bank_connections_live_notify_truncate
    AFTER TRUNCATE ON app.bank_connections
    FOR EACH STATEMENT EXECUTE FUNCTION app.live_notify('all');

CREATE TRIGGER bank_accounts_live_notify
    AFTER INSERT OR UPDATE OR DELETE ON app.bank_accounts
    FOR EACH ROW EXECUTE FUNCTION app.live_notify_club_of_row();
CREATE TRIGGER bank_accounts_live_notify_truncate
    AFTER TRUNCATE ON app.bank_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION app.live_notify('all');
