-- Balance watch (issue 10): a threshold per account; an e-mail to owners and treasurers once per
-- crossing below it, re-armed when the balance is back at or above it. Evaluated after every
-- sync inside the sync's transaction (`watch::AfterSync`), so the crossing state below and the
-- queued mail commit together: several instances never send one crossing twice.
CREATE TABLE balance_watches (
    account_id      uuid PRIMARY KEY REFERENCES bank_accounts (id) ON DELETE CASCADE,
    -- Minor units of the account's currency; the alert fires when the balance drops below it.
    threshold_minor bigint NOT NULL,
    -- Which balance is watched: KB's available balance or the accounting (booked) balance.
    balance         text NOT NULL CHECK (balance IN ('available', 'booked')),
    -- The last evaluated balance was below the threshold (the mail for this crossing went out).
    below           boolean NOT NULL DEFAULT false,
    -- How many crossings were announced (names each crossing's mail).
    crossings       integer NOT NULL DEFAULT 0,
    -- When the balance last went below the threshold, and the balance it was then.
    crossed_at      timestamptz,
    crossed_minor   bigint,
    set_by          uuid,
    updated_at      timestamptz NOT NULL
);
