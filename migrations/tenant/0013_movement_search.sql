-- An account's movements: paging, filters and search (issue 10).
--
-- `day` is the date a movement is listed under: its booking date, else its value date (pending
-- rows), else the far future (a not-booked row without dates stays on top of the newest-first
-- list). Pages are keyset pages over (account_id, day, id); never OFFSET.
-- `search_text` is what the search box finds: the counter-party's name, the messages, the note
-- and the counter-account, lower case without Czech accents (upper-case accented letters are
-- folded too, so the result does not depend on the database's locale; `sync::movements` folds
-- the query with the same pair). `symbols` are the VS, KS and SS without leading zeros (compared as numbers are).
-- `kb_json` keeps the movement as KB sent it (as Kasa read it), for the movement's detail page;
-- rows stored before this migration have none until KB lists them again.
ALTER TABLE transactions
    ADD COLUMN day date GENERATED ALWAYS AS
        (coalesce(booking_date, value_date, DATE '9999-12-31')) STORED,
    ADD COLUMN search_text text GENERATED ALWAYS AS
        (translate(lower(coalesce(counterparty_name, '') || ' ' || coalesce(message, '') || ' '
                         || coalesce(note, '') || ' ' || coalesce(counterparty_account, '') || ' '
                         || coalesce(counterparty_iban, '')),
                   'ÁÄČĎÉĚËÍĹĽŇÓÖÔŘŔŠŤÚŮÜÝŽáäčďéěëíĺľňóöôřŕšťúůüýž',
                   'aacdeeeillnooorrstuuuyzaacdeeeillnooorrstuuuyz')) STORED,
    ADD COLUMN symbols text[] GENERATED ALWAYS AS
        (array_remove(ARRAY[nullif(ltrim(variable_symbol, '0'), ''),
                            nullif(ltrim(constant_symbol, '0'), ''),
                            nullif(ltrim(specific_symbol, '0'), '')], NULL)) STORED,
    ADD COLUMN kb_json jsonb;

-- Newest first, both ways (older/newer pages), by date ...
CREATE INDEX transactions_account_day_idx ON transactions (account_id, day, id);
-- ... or by amount (sorting; the amount filter compares the absolute value). The new index
-- serves what 0006's (account_id, amount_minor) served, so that one goes.
DROP INDEX IF EXISTS transactions_account_amount_idx;
CREATE INDEX transactions_account_amount_id_idx ON transactions (account_id, amount_minor, id);
CREATE INDEX transactions_account_abs_amount_idx ON transactions (account_id, abs(amount_minor));
CREATE INDEX transactions_symbols_idx ON transactions USING gin (symbols);

-- Trigram index for the search box, when pg_trgm is installed (app migration 0009).
DO $$
DECLARE
    ext_schema text;
BEGIN
    SELECT n.nspname INTO ext_schema
      FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace
     WHERE c.opcname = 'gin_trgm_ops' LIMIT 1;
    IF ext_schema IS NOT NULL THEN
        EXECUTE format('CREATE INDEX transactions_search_idx ON transactions USING gin (search_text %I.gin_trgm_ops)', ext_schema);
    END IF;
END
$$;

-- Each account's number of movements, kept by triggers, so the account page and the dashboard
-- show it without counting a 100 000-row history on every request (the account page's
-- unfiltered count; a filter still counts what it selects). INSERT … ON CONFLICT DO UPDATE
-- puts only the rows it inserted into the insert trigger's transition table.
ALTER TABLE bank_accounts ADD COLUMN movements bigint NOT NULL DEFAULT 0;
UPDATE bank_accounts a SET movements = (SELECT count(*) FROM transactions t WHERE t.account_id = a.id);

CREATE FUNCTION movements_counted() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    -- Each branch names only the transition table its trigger has.
    IF TG_OP = 'DELETE' THEN
        UPDATE bank_accounts a SET movements = a.movements - o.n
          FROM (SELECT account_id, count(*) AS n FROM old_rows GROUP BY account_id) o
         WHERE a.id = o.account_id;
    ELSE
        UPDATE bank_accounts a SET movements = a.movements + i.n
          FROM (SELECT account_id, count(*) AS n FROM new_rows GROUP BY account_id) i
         WHERE a.id = i.account_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER transactions_counted_ins AFTER INSERT ON transactions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION movements_counted();
CREATE TRIGGER transactions_counted_del AFTER DELETE ON transactions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION movements_counted();
