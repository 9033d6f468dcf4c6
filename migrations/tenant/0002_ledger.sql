-- The club's bank data: accounts, transactions, balance history and sync runs.
-- `bank_accounts.id` equals `app.bank_accounts.id` (no foreign key across schemas).

CREATE TABLE bank_accounts (
    id                 uuid PRIMARY KEY,
    kb_account_id      text NOT NULL,
    iban               text NOT NULL,
    currency           text NOT NULL,
    name               text,
    -- Booked history is complete up to this date (the next sync overlaps it).
    watermark          date,
    -- The first sync (two years) has finished.
    history_complete   boolean NOT NULL DEFAULT false,
    fresh_as_of        timestamptz,
    stale_since        timestamptz,
    last_error         text,
    -- Progress of the running sync, for the page.
    progress_pages     integer NOT NULL DEFAULT 0,
    progress_fetched   integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL
);

CREATE TABLE transactions (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id             uuid NOT NULL REFERENCES bank_accounts (id) ON DELETE CASCADE,
    -- 'as:' || references.accountServicer, or 'fp:' || fingerprint || ':' || ordinal.
    bank_key               text NOT NULL,
    status                 text NOT NULL CHECK (status IN ('booked', 'pending')),
    -- Signed minor units: credits positive, debits negative.
    amount_minor           bigint NOT NULL,
    currency               text NOT NULL,
    instructed_minor       bigint,
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
    transaction_type       text,
    reversal               boolean NOT NULL DEFAULT false,
    last_updated           timestamptz NOT NULL,
    first_seen_at          timestamptz NOT NULL,
    CONSTRAINT transactions_account_key UNIQUE (account_id, bank_key)
);
CREATE INDEX transactions_account_date_idx ON transactions (account_id, booking_date DESC, id DESC);
CREATE INDEX transactions_vs_idx ON transactions (variable_symbol) WHERE variable_symbol IS NOT NULL;

CREATE TABLE balances (
    account_id   uuid NOT NULL REFERENCES bank_accounts (id) ON DELETE CASCADE,
    balance_type text NOT NULL,
    amount_minor bigint NOT NULL,
    currency     text NOT NULL,
    valid_at     timestamptz NOT NULL,
    fetched_at   timestamptz NOT NULL,
    PRIMARY KEY (account_id, balance_type, valid_at)
);

CREATE TABLE sync_runs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     uuid NOT NULL REFERENCES bank_accounts (id) ON DELETE CASCADE,
    trigger        text NOT NULL,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    window_from    date,
    window_to      date,
    pages          integer NOT NULL DEFAULT 0,
    fetched        integer NOT NULL DEFAULT 0,
    inserted       integer NOT NULL DEFAULT 0,
    updated        integer NOT NULL DEFAULT 0,
    removed        integer NOT NULL DEFAULT 0,
    outcome        text NOT NULL,
    error          text,
    reconciliation text
);
CREATE INDEX sync_runs_account_idx ON sync_runs (account_id, started_at DESC);
