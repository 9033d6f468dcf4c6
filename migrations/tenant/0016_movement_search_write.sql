-- A first sync's ledger apply (100 000 movements in one statement) took 13.65 s after 0013
-- instead of 2.42 s before it (docs/benchmarks.md, "Sync: the first sync's write after the
-- search columns"). Measured alone, 0013's generated `search_text` cost about 2.5 s of it (the
-- 46-letter `translate` runs per character of every row), and the indexes it added about
-- 8 s, the trigram index most of it. This migration keeps every value as it is and changes who
-- computes `search_text`:
--
-- * the sync's bulk upsert computes it (`sync::movements::search_text`, the same folding in
--   Rust) and writes it as an ordinary column;
-- * any other writer that leaves it out (a hand-written INSERT, a test, a benchmark) still gets
--   it from `movement_search_text`, 0013's expression, through a row trigger whose `WHEN`
--   clause is false for the sync's rows (no trigger function runs for them);
-- * an UPDATE that changes what the text is made of without writing the text gets it
--   recomputed the same way.
--
-- Every statement may run again on a schema that has it (a test re-runs the migrations from
-- 0014 on). The indexes are unchanged; a large first sync drops and rebuilds the search indexes in its
-- own transaction instead of updating them row by row (`sync::ledger`).

CREATE OR REPLACE FUNCTION movement_search_text(name text, message text, note text, account text, iban text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT translate(lower(coalesce(name, '') || ' ' || coalesce(message, '') || ' '
                           || coalesce(note, '') || ' ' || coalesce(account, '') || ' '
                           || coalesce(iban, '')),
                     'ÁÄČĎÉĚËÍĹĽŇÓÖÔŘŔŠŤÚŮÜÝŽáäčďéěëíĺľňóöôřŕšťúůüýž',
                     'aacdeeeillnooorrstuuuyzaacdeeeillnooorrstuuuyz')
$$;

ALTER TABLE transactions ALTER COLUMN search_text DROP EXPRESSION IF EXISTS;

CREATE OR REPLACE FUNCTION movement_search_text_filled() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    NEW.search_text := movement_search_text(NEW.counterparty_name, NEW.message, NEW.note,
                                            NEW.counterparty_account, NEW.counterparty_iban);
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS transactions_search_text_ins ON transactions;
DROP TRIGGER IF EXISTS transactions_search_text_upd ON transactions;
CREATE TRIGGER transactions_search_text_ins BEFORE INSERT ON transactions
    FOR EACH ROW WHEN (NEW.search_text IS NULL)
    EXECUTE FUNCTION movement_search_text_filled();
CREATE TRIGGER transactions_search_text_upd BEFORE UPDATE ON transactions
    FOR EACH ROW WHEN (NEW.search_text IS NULL
                       OR (NEW.search_text IS NOT DISTINCT FROM OLD.search_text
                           AND (NEW.counterparty_name, NEW.message, NEW.note,
                                NEW.counterparty_account, NEW.counterparty_iban)
                               IS DISTINCT FROM
                               (OLD.counterparty_name, OLD.message, OLD.note,
                                OLD.counterparty_account, OLD.counterparty_iban)))
    EXECUTE FUNCTION movement_search_text_filled();

-- The account page counts what a filter selects on every page of a filtered list; the count
-- only changes when the account's movements do. `movement_writes` changes with every statement
-- that writes an account's movements (insert, update, delete: statement-level triggers, one
-- UPDATE per statement whatever its number of rows), so `sync::movements` keeps counts per
-- (account, filter, movement_writes) and counts again only after a write. `movements` itself
-- counts as before.
ALTER TABLE bank_accounts ADD COLUMN IF NOT EXISTS movement_writes bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION movements_counted() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    -- Each branch names only the transition tables its trigger has.
    IF TG_OP = 'DELETE' THEN
        UPDATE bank_accounts a SET movements = a.movements - o.n,
                                   movement_writes = a.movement_writes + 1
          FROM (SELECT account_id, count(*) AS n FROM old_rows GROUP BY account_id) o
         WHERE a.id = o.account_id;
    ELSIF TG_OP = 'INSERT' THEN
        UPDATE bank_accounts a SET movements = a.movements + i.n,
                                   movement_writes = a.movement_writes + 1
          FROM (SELECT account_id, count(*) AS n FROM new_rows GROUP BY account_id) i
         WHERE a.id = i.account_id;
    ELSE
        -- An update may move rows between accounts (merging copies of one account).
        UPDATE bank_accounts a SET movements = a.movements + c.n,
                                   movement_writes = a.movement_writes + 1
          FROM (SELECT account_id, sum(n) AS n
                  FROM (SELECT account_id, 1 AS n FROM new_rows
                        UNION ALL SELECT account_id, -1 FROM old_rows) r
                 GROUP BY account_id) c
         WHERE a.id = c.account_id;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS transactions_counted_upd ON transactions;
CREATE TRIGGER transactions_counted_upd AFTER UPDATE ON transactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION movements_counted();
