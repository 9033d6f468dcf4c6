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
-- The indexes are unchanged; a large first sync drops and rebuilds the search indexes in its
-- own transaction instead of updating them row by row (`sync::ledger`).

CREATE FUNCTION movement_search_text(name text, message text, note text, account text, iban text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT translate(lower(coalesce(name, '') || ' ' || coalesce(message, '') || ' '
                           || coalesce(note, '') || ' ' || coalesce(account, '') || ' '
                           || coalesce(iban, '')),
                     'ÁÄČĎÉĚËÍĹĽŇÓÖÔŘŔŠŤÚŮÜÝŽáäčďéěëíĺľňóöôřŕšťúůüýž',
                     'aacdeeeillnooorrstuuuyzaacdeeeillnooorrstuuuyz')
$$;

ALTER TABLE transactions ALTER COLUMN search_text DROP EXPRESSION;

CREATE FUNCTION movement_search_text_filled() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    NEW.search_text := movement_search_text(NEW.counterparty_name, NEW.message, NEW.note,
                                            NEW.counterparty_account, NEW.counterparty_iban);
    RETURN NEW;
END
$$;

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
