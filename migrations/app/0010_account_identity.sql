-- One bank account is one account in Kasa for its whole life (issue 10, item 6): its identity is
-- the IBAN and currency within the club, not the connection that exposes it. A reconnect points
-- the existing row at the new connection (`consent::store::insert_account`); the club's schema
-- keeps the identity unique (tenant migration 0014).

CREATE INDEX bank_accounts_identity_idx
    ON app.bank_accounts (tenant_id, upper(replace(iban, ' ', '')), currency);

-- Merges the copies of one account that reconnects made before this migration, in the schema
-- of the caller's `search_path` (a tenant's) and that tenant's control-plane rows. The oldest
-- copy (created_at, id) stays, with the newest copy's sync state and connection; transactions
-- move to it, deduplicated by `bank_key` (the older row stays with its decisions; a decision
-- only the newer row had moves over with its allocations and actions); balances, sync runs and
-- unreadable items move; the sync job and KB subscriptions move; paid sums and movement counts are
-- recomputed and
-- matching scans the merged accounts again; "payment received" notes follow their decisions.
-- Returns how many copies were merged away.
CREATE FUNCTION app.merge_duplicate_bank_accounts(tenant uuid) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    dup    record;
    newest record;
    merged integer := 0;
BEGIN
    FOR dup IN
        SELECT a.id AS gone, k.id AS keep
          FROM bank_accounts a
          JOIN LATERAL (SELECT b.id FROM bank_accounts b
                         WHERE upper(replace(b.iban, ' ', '')) = upper(replace(a.iban, ' ', ''))
                           AND b.currency = a.currency
                         ORDER BY b.created_at, b.id LIMIT 1) k ON k.id <> a.id
         ORDER BY a.created_at, a.id
    LOOP
        -- The same movement in both copies: a decision only the newer row has moves over.
        UPDATE allocations a SET transaction_id = p.keep_tx
          FROM (SELECT g.id AS gone_tx, k.id AS keep_tx FROM transactions g JOIN transactions k ON k.account_id = dup.keep AND k.bank_key = g.bank_key WHERE g.account_id = dup.gone) p
         WHERE a.transaction_id = p.gone_tx
           AND EXISTS (SELECT 1 FROM payment_decisions d WHERE d.transaction_id = p.gone_tx)
           AND NOT EXISTS (SELECT 1 FROM payment_decisions d WHERE d.transaction_id = p.keep_tx);
        UPDATE payment_actions a SET transaction_id = p.keep_tx
          FROM (SELECT g.id AS gone_tx, k.id AS keep_tx FROM transactions g JOIN transactions k ON k.account_id = dup.keep AND k.bank_key = g.bank_key WHERE g.account_id = dup.gone) p
         WHERE a.transaction_id = p.gone_tx
           AND NOT EXISTS (SELECT 1 FROM payment_decisions d WHERE d.transaction_id = p.keep_tx);
        UPDATE payment_decisions d SET transaction_id = p.keep_tx
          FROM (SELECT g.id AS gone_tx, k.id AS keep_tx FROM transactions g JOIN transactions k ON k.account_id = dup.keep AND k.bank_key = g.bank_key WHERE g.account_id = dup.gone) p
         WHERE d.transaction_id = p.gone_tx
           AND NOT EXISTS (SELECT 1 FROM payment_decisions e WHERE e.transaction_id = p.keep_tx);
        -- "Payment received" was noted for a payment (tenant 0010): the note follows its decision.
        IF to_regclass('received_payments') IS NOT NULL THEN
            UPDATE received_payments r SET transaction_id = p.keep_tx
              FROM (SELECT g.id AS gone_tx, k.id AS keep_tx FROM transactions g JOIN transactions k ON k.account_id = dup.keep AND k.bank_key = g.bank_key WHERE g.account_id = dup.gone) p
             WHERE r.transaction_id = p.gone_tx
               AND NOT EXISTS (SELECT 1 FROM received_payments e WHERE e.transaction_id = p.keep_tx);
            DELETE FROM received_payments r USING (SELECT g.id AS gone_tx, k.id AS keep_tx FROM transactions g JOIN transactions k ON k.account_id = dup.keep AND k.bank_key = g.bank_key WHERE g.account_id = dup.gone) p WHERE r.transaction_id = p.gone_tx;
        END IF;
        DELETE FROM transactions t USING (SELECT g.id AS gone_tx, k.id AS keep_tx FROM transactions g JOIN transactions k ON k.account_id = dup.keep AND k.bank_key = g.bank_key WHERE g.account_id = dup.gone) p WHERE t.id = p.gone_tx;
        UPDATE transactions SET account_id = dup.keep WHERE account_id = dup.gone;

        DELETE FROM unreadable_transactions g USING unreadable_transactions k
         WHERE g.account_id = dup.gone AND k.account_id = dup.keep AND k.bank_key = g.bank_key;
        UPDATE unreadable_transactions SET account_id = dup.keep WHERE account_id = dup.gone;
        INSERT INTO balances (account_id, balance_type, amount_minor, currency, valid_at, fetched_at)
            SELECT dup.keep, balance_type, amount_minor, currency, valid_at, fetched_at
              FROM balances WHERE account_id = dup.gone
            ON CONFLICT DO NOTHING;
        DELETE FROM balances WHERE account_id = dup.gone;
        UPDATE sync_runs SET account_id = dup.keep WHERE account_id = dup.gone;
        DELETE FROM payment_scan WHERE account_id IN (dup.keep, dup.gone);

        -- The newer copy is the one the live connection synced last: its state wins.
        SELECT * INTO newest FROM bank_accounts WHERE id = dup.gone;
        DELETE FROM bank_accounts WHERE id = dup.gone;
        UPDATE bank_accounts SET kb_account_id = newest.kb_account_id,
               name = COALESCE(newest.name, name), watermark = newest.watermark,
               history_complete = newest.history_complete OR history_complete,
               fresh_as_of = newest.fresh_as_of, stale_since = newest.stale_since,
               last_error = newest.last_error, problem = newest.problem,
               progress_pages = newest.progress_pages, progress_fetched = newest.progress_fetched,
               unapplied_download_at = newest.unapplied_download_at
         WHERE id = dup.keep;

        -- Control plane: the job and subscriptions of the newer copy, its connection.
        SELECT connection_id, kb_account_id INTO newest
          FROM app.bank_accounts WHERE id = dup.gone AND tenant_id = tenant;
        IF FOUND THEN
            IF EXISTS (SELECT 1 FROM app.sync_jobs WHERE account_id = dup.gone) THEN
                DELETE FROM app.sync_jobs WHERE account_id = dup.keep;
                UPDATE app.sync_jobs SET account_id = dup.keep WHERE account_id = dup.gone;
            END IF;
            UPDATE app.event_subscriptions SET account_id = dup.keep WHERE account_id = dup.gone;
            DELETE FROM app.bank_accounts WHERE id = dup.gone;
            UPDATE app.bank_accounts SET connection_id = newest.connection_id,
                   kb_account_id = newest.kb_account_id
             WHERE id = dup.keep AND tenant_id = tenant;
        END IF;
        merged := merged + 1;
    END LOOP;
    IF merged > 0 THEN
        -- Each account's movement count (tenant 0013) is kept on insert and delete only.
        IF EXISTS (SELECT 1 FROM information_schema.columns
                    WHERE table_schema = current_schema() AND table_name = 'bank_accounts'
                      AND column_name = 'movements') THEN
            UPDATE bank_accounts a SET movements = s.n
              FROM (SELECT b.id, (SELECT count(*) FROM transactions t WHERE t.account_id = b.id) AS n
                      FROM bank_accounts b) s
             WHERE s.id = a.id AND a.movements <> s.n;
        END IF;
        UPDATE charges c SET paid_minor = s.paid
          FROM (SELECT c2.id, COALESCE(sum(a.amount_minor), 0) AS paid
                  FROM charges c2 LEFT JOIN allocations a ON a.charge_id = c2.id
                 GROUP BY c2.id) s
         WHERE s.id = c.id AND c.paid_minor <> s.paid;
        UPDATE payment_stamp SET version = version + 1;
    END IF;
    RETURN merged;
END;
$$;
