-- The sync's staging table (`sync::stage`): a download's readable transactions are copied here
-- by binary COPY while the pages arrive and merged into `transactions` by one statement, in one
-- tenant transaction that deletes them again before it commits. A row is therefore never seen
-- by another transaction: a concurrent sync of the club's other account stages beside it
-- unseen, and a sync that fails rolls its rows back.
--
-- A table of the club's own schema rather than a temporary table: a temporary table is created
-- per connection (a catalog change) and `ON COMMIT DELETE ROWS` truncates it at every commit,
-- which rebuilds its TOAST index and sends relation-cache invalidations. Every other
-- connection processes each invalidation against all of its cached plans; with 2 000 clubs
-- (300 000 relations, tens of thousands of cached trigger plans per connection) that halved
-- the sync throughput (docs/benchmarks.md, the scale runs of 2026-11-30). Here a sync changes
-- no catalog.
--
-- UNLOGGED: the rows live within one transaction, so they need no WAL and a crash may empty
-- the table. Autovacuum reclaims the deleted rows only every 10 000 of them and never analyses
-- the table (nothing the sync asks of it depends on statistics: the merge reads it whole).
-- Written to run again over itself.
CREATE UNLOGGED TABLE IF NOT EXISTS staged_transactions (
    ord                    int4 NOT NULL,
    bank_key               text NOT NULL,
    status                 text NOT NULL,
    amount_minor           int8 NOT NULL,
    currency               text NOT NULL,
    instructed_minor       int8,
    instructed_currency    text,
    booking_date           date,
    value_date             date,
    counterparty_name      text,
    counterparty_account   text,
    counterparty_bank_code text,
    counterparty_iban      text,
    variable_symbol        text,
    constant_symbol        text,
    specific_symbol        text,
    message                text,
    note                   text,
    transaction_type       text NOT NULL,
    reversal               bool NOT NULL,
    last_updated           timestamptz NOT NULL,
    kb_status              text,
    flags                  text NOT NULL,
    kb_json                text,
    search_text            text NOT NULL
) WITH (
    autovacuum_vacuum_threshold = 10000,
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = -1,
    autovacuum_analyze_threshold = 2147483647,
    autovacuum_analyze_scale_factor = 0
);
