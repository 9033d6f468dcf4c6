-- Reminders to members and "payment received" notices (issue 9, items 3 and 4).

-- Per schedule: whether its charges are reminded, and the steps in days from a charge's due
-- date (negative: before it). Czech clubs' usual rhythm: a week before, on the day, two weeks
-- after.
ALTER TABLE fee_schedules
    ADD COLUMN reminders_on   boolean NOT NULL DEFAULT true,
    ADD COLUMN reminder_steps integer[] NOT NULL DEFAULT '{-7,0,14}'
        CHECK (cardinality(reminder_steps) <= 10);

-- One row: the club's reminder settings. `booking_lag_days`: business days a payment may take
-- to be booked; nobody is reminded of a charge before the account synced successfully after
-- its due date plus this lag. `thank_you`: a member who pays after a reminder gets a thank-you.
CREATE TABLE reminder_settings (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    booking_lag_days integer NOT NULL DEFAULT 2 CHECK (booking_lag_days BETWEEN 0 AND 10),
    thank_you        boolean NOT NULL DEFAULT false
);
INSERT INTO reminder_settings (singleton) VALUES (true);

-- Members who get no reminders (switched off on the member's page).
CREATE TABLE reminder_opt_outs (
    member_id uuid PRIMARY KEY REFERENCES members (id),
    since     timestamptz NOT NULL
);

-- A batch the treasurer sent from the preview; the form's one-time token makes a second submit
-- find the first batch.
CREATE TABLE reminder_batches (
    id          uuid PRIMARY KEY,
    form_token  text UNIQUE,
    sent_at     timestamptz NOT NULL,
    sent_by     uuid,
    mails       integer NOT NULL,
    -- Payments booked up to this instant were counted (the accounts' last successful sync).
    fresh_as_of timestamptz
);

-- Each reminder step of a charge happens at most once: sent, excluded by the treasurer from a
-- batch, or overtaken (a later step was due before this one went out). Inserted in the
-- transaction that queues the e-mail.
CREATE TABLE reminders_sent (
    charge_id uuid NOT NULL REFERENCES charges (id),
    step      integer NOT NULL,
    outcome   text NOT NULL CHECK (outcome IN ('sent', 'excluded', 'overtaken')),
    batch_id  uuid NOT NULL REFERENCES reminder_batches (id),
    member_id uuid NOT NULL,
    at        timestamptz NOT NULL,
    PRIMARY KEY (charge_id, step)
);

-- A thank-you for a payment after a reminder, at most once per payment.
CREATE TABLE reminder_thanks (
    transaction_id bigint PRIMARY KEY,
    at             timestamptz NOT NULL
);

-- Payments a sync matched while someone subscribed to "payment received" notices: at most one
-- notice per payment, and what the daily digests list (by Prague day).
CREATE TABLE received_payments (
    transaction_id bigint PRIMARY KEY,
    matched_at     timestamptz NOT NULL,
    matched_day    date NOT NULL
);
CREATE INDEX received_payments_day_idx ON received_payments (matched_day);

-- One digest per teammate and Prague day.
CREATE TABLE payment_digests (
    user_id uuid NOT NULL,
    day     date NOT NULL,
    sent_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, day)
);
