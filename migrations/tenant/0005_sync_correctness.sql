-- Sync correctness under real-world bank data (issue 11).

-- Statuses beyond booked/pending. Only 'booked' rows are accounting (matching settles only
-- status = 'booked'); 'pending', 'scheduled' and 'unknown' are not final and are removed when
-- KB stops listing them; 'cancelled' and 'rejected' are kept for the record, never counted and
-- never shown as pending. `kb_status` is KB's literal (PDNG, PNG, SCHD, CNCL, RJCT, ...).
ALTER TABLE transactions DROP CONSTRAINT IF EXISTS transactions_status_check;
ALTER TABLE transactions ADD CONSTRAINT transactions_status_check
    CHECK (status IN ('booked', 'pending', 'scheduled', 'cancelled', 'rejected', 'unknown'));
ALTER TABLE transactions
    ADD COLUMN kb_status text,
    -- What Kasa tolerated in informational fields (instructed_rounded, long_text:..., ...).
    ADD COLUMN flags text[] NOT NULL DEFAULT '{}';

-- Items of KB's transaction list that Kasa could not read exactly (one bad value never stops
-- the account): kept raw, shown on the account page, counted by reconciliation. A row leaves
-- this table when KB sends the same item readably or stops listing it.
CREATE TABLE unreadable_transactions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES bank_accounts (id) ON DELETE CASCADE,
    -- 'as:' || accountServicer, or 'raw:' || SHA-256 of the raw item.
    bank_key      text NOT NULL,
    raw           text NOT NULL,
    problem       text NOT NULL,
    -- Signed minor units (credits positive), when amount and direction were readable.
    amount_minor  bigint,
    currency      text,
    -- bookingDate or valueDate (Prague business date), when readable.
    day           date,
    kb_status     text,
    first_seen_at timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    CONSTRAINT unreadable_transactions_account_key UNIQUE (account_id, bank_key)
);

-- KB counts 61 minutes from each download of the transaction list. When a download was not
-- applied (the run failed afterwards), KB's unchanged-data answer does not mean "nothing new"
-- for Kasa until the next download is applied: remember when that download happened.
ALTER TABLE bank_accounts ADD COLUMN unapplied_download_at timestamptz;
