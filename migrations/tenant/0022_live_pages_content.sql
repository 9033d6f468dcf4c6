-- Kept page contents (issue 13, `web::rendered`): each web process keeps the dashboard and
-- the account page rendered until the club's notification (`club:<schema>`, 0018) says that
-- something they show changed. 0018 notifies on the tables the pages' change stamps read;
-- these triggers add the other tables the pages' contents read, so that no write path (a
-- sync, a balance watch, a history deletion, another process) can leave a kept page behind.
-- The fee figures move with `payment_stamp` (0008, 0018). Statement-level, and PostgreSQL
-- delivers one notification per transaction for equal payloads: a sync that writes its rows,
-- balances and account in one transaction still notifies once.
-- Written to run again over itself (a schema brought back to an older version replays it).

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['transactions', 'unreadable_transactions', 'balances',
                             'balance_watches']
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_live_notify', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION live_notify_club()',
                       t || '_live_notify', t);
    END LOOP;
END
$$;
