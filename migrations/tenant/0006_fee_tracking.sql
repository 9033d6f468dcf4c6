-- Fee tracking from a date, idempotent creation forms, and what the narrowed payment matching
-- keeps so that a sync reads only what can change (issue 8, trials).

-- One row: the club's fee settings.
CREATE TABLE fee_settings (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- "Payments count from": incoming payments booked before this Prague date are not used for
    -- fee matching. NULL: the first day of the earliest fee schedule's first period.
    payments_from date,
    -- What the last charge generation covered (periods due and the inputs' change marks); a run
    -- with the same key would create nothing, so it is skipped (fee::generate_charges).
    charges_key   text
);
INSERT INTO fee_settings (singleton) VALUES (true);

-- One-time tokens of the "new" forms: a second submit of the same form finds the first result.
ALTER TABLE fee_schedules ADD COLUMN form_token text UNIQUE;
ALTER TABLE members ADD COLUMN form_token text UNIQUE;

-- Σ allocations of the charge, kept by `payment` whenever its allocations change (through
-- fee::set_paid), so open charges are found by an index instead of summing every allocation.
ALTER TABLE charges ADD COLUMN paid_minor bigint NOT NULL DEFAULT 0 CHECK (paid_minor >= 0);
UPDATE charges c SET paid_minor = s.paid
  FROM (SELECT charge_id, sum(amount_minor) AS paid FROM allocations GROUP BY charge_id) s
 WHERE s.charge_id = c.id;
CREATE INDEX charges_open_idx ON charges (member_id, due_on) WHERE paid_minor < amount_minor;
-- Suggestions: members with an open charge of exactly a payment's amount.
CREATE INDEX charges_open_amount_idx ON charges ((amount_minor - paid_minor))
    WHERE paid_minor < amount_minor;

-- `left_minor`: what of an identified payment no charge has taken yet (its credit), kept with
-- every change of its allocations. `account_key`: `payment::matching::account_key` of the
-- payment's counter-account ('' when it has none; NULL for rows written before this migration,
-- filled in by the next matching run), so remembered accounts are looked up by index.
ALTER TABLE payment_decisions
    ADD COLUMN left_minor bigint NOT NULL DEFAULT 0,
    ADD COLUMN account_key text;
UPDATE payment_decisions d
   SET left_minor = GREATEST(t.amount_minor - COALESCE(
           (SELECT sum(a.amount_minor) FROM allocations a WHERE a.transaction_id = d.transaction_id),
           0), 0)
  FROM transactions t
 WHERE t.id = d.transaction_id AND d.outcome IN ('matched', 'partly_paid', 'overpaid')
   AND (d.target_member IS NOT NULL OR d.target_household IS NOT NULL);
CREATE INDEX payment_decisions_left_idx ON payment_decisions (transaction_id) WHERE left_minor > 0;
CREATE INDEX payment_decisions_account_idx ON payment_decisions (account_key)
    WHERE account_key <> '';
CREATE INDEX payment_decisions_unkeyed_idx ON payment_decisions (transaction_id)
    WHERE account_key IS NULL;

-- Per bank account: every transaction with an id up to `scanned_through` has been considered by
-- matching (held back below the oldest incoming row that is not booked yet, which may still
-- become a payment). Rows are dropped when the tracking start changes (everything is re-read).
CREATE TABLE payment_scan (
    account_id      uuid PRIMARY KEY,
    scanned_through bigint NOT NULL
);

-- `scan_key`: the tracking start the scans and automatic decisions were made with ('none'
-- before any schedule; NULL until the first run after this migration: another start rebuilds
-- every automatic decision). `directory_key`: a fingerprint of the member directory the queue
-- was last decided with (another one decides the whole queue again).
ALTER TABLE payment_stamp ADD COLUMN scan_key text, ADD COLUMN directory_key text;

-- Reads of the sync's table that the narrowed matching needs: rows not booked yet (few), and
-- the payment a reversal undoes (same account, opposite amount).
CREATE INDEX transactions_unbooked_idx ON transactions (account_id, id) WHERE status <> 'booked';
CREATE INDEX transactions_account_amount_idx ON transactions (account_id, amount_minor);
