-- Pre-provisioned club schemas (issue 13 item 4, docs/scaling.md "Provisioning"). A spare is an
-- `app.tenants` row with its schema created and migrated but no club yet: no name, no IČO, no
-- members. The workers keep a few ready (`db::spares`, `KASA_SPARE_SCHEMAS`); a sign-up claims
-- one by setting its status to `active` with the club's name and IČO, and provisions inline only
-- when none is left. A spare is created in one transaction with all its migrations, so it is
-- claimable only once complete.

ALTER TABLE app.tenants DROP CONSTRAINT tenants_status_check;
ALTER TABLE app.tenants ADD CONSTRAINT tenants_status_check
    CHECK (status IN ('spare', 'active', 'suspended', 'deleted'));

-- A spare has neither name nor IČO; every club has both.
ALTER TABLE app.tenants ALTER COLUMN name DROP NOT NULL, ALTER COLUMN ico DROP NOT NULL;
ALTER TABLE app.tenants ADD CONSTRAINT tenants_spare_unnamed CHECK (
    CASE WHEN status = 'spare' THEN name IS NULL AND ico IS NULL
         ELSE name IS NOT NULL AND ico IS NOT NULL END);

-- The claim takes the oldest spare (`ORDER BY id`, UUID v7) and the replenisher counts them.
CREATE INDEX tenants_spare_idx ON app.tenants (id) WHERE status = 'spare';

-- Spares are nobody's club: creating, migrating or dropping one tells no process to forget the
-- people it keeps (app migration 0014). A claim does (the spare becomes a club).
DROP TRIGGER tenants_live_notify ON app.tenants;
CREATE TRIGGER tenants_live_notify_insert
    AFTER INSERT ON app.tenants
    FOR EACH ROW WHEN (NEW.status <> 'spare') EXECUTE FUNCTION app.live_notify('people');
CREATE TRIGGER tenants_live_notify_update
    AFTER UPDATE ON app.tenants
    FOR EACH ROW WHEN (OLD.status <> 'spare' OR NEW.status <> 'spare')
    EXECUTE FUNCTION app.live_notify('people');
CREATE TRIGGER tenants_live_notify_delete
    AFTER DELETE ON app.tenants
    FOR EACH ROW WHEN (OLD.status <> 'spare') EXECUTE FUNCTION app.live_notify('people');
CREATE TRIGGER tenants_live_notify_truncate
    AFTER TRUNCATE ON app.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION app.live_notify('people');

-- A claimed spare wakes the replenishers of every process (`LISTEN kasa_spares`) when the
-- sign-up commits.
CREATE FUNCTION app.spare_claimed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kasa_spares', 'claimed');
    RETURN NULL;
END;
$$;
CREATE TRIGGER tenants_spare_claimed
    AFTER UPDATE OF status ON app.tenants
    FOR EACH ROW WHEN (OLD.status = 'spare' AND NEW.status <> 'spare')
    EXECUTE FUNCTION app.spare_claimed();
