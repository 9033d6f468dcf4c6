-- Member fees: schedules, the charges generated from them, and how bank payments settle them.
-- Amounts are minor units (haléře) of CZK; dates (`*_on`) are Prague dates.

CREATE TABLE fee_schedules (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    period       text NOT NULL CHECK (period IN ('year', 'half_year', 'quarter', 'month', 'one_off')),
    -- Day of the period's first month the charge is due (clamped to the month's length).
    due_day      smallint NOT NULL CHECK (due_day BETWEEN 1 AND 31),
    grace_days   integer NOT NULL DEFAULT 0 CHECK (grace_days BETWEEN 0 AND 365),
    applies_to   text NOT NULL CHECK (applies_to IN ('everyone', 'groups', 'individuals')),
    -- The first period charged (its first day). One-off: the month of the single charge.
    starts_on    date NOT NULL,
    archived_at  timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE TABLE fee_schedule_groups (
    schedule_id uuid NOT NULL REFERENCES fee_schedules (id) ON DELETE CASCADE,
    group_id    uuid NOT NULL REFERENCES member_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (schedule_id, group_id)
);

-- Individuals a schedule applies to (applies_to = 'individuals'), and per-member discounts or
-- exemptions (any schedule): discount_minor is subtracted; exempt means no charges at all.
CREATE TABLE fee_schedule_members (
    schedule_id    uuid NOT NULL REFERENCES fee_schedules (id) ON DELETE CASCADE,
    member_id      uuid NOT NULL REFERENCES members (id),
    included       boolean NOT NULL DEFAULT false,
    discount_minor bigint NOT NULL DEFAULT 0 CHECK (discount_minor >= 0),
    exempt         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (schedule_id, member_id)
);

-- One charge per schedule, member and period: generation is idempotent by this key.
CREATE TABLE charges (
    id           uuid PRIMARY KEY,
    schedule_id  uuid NOT NULL REFERENCES fee_schedules (id),
    member_id    uuid NOT NULL REFERENCES members (id),
    period_start date NOT NULL,
    period_end   date NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    due_on       date NOT NULL,
    -- Last day before the member counts as owing.
    grace_until  date NOT NULL,
    created_at   timestamptz NOT NULL,
    CONSTRAINT charges_once UNIQUE (schedule_id, member_id, period_start)
);
CREATE INDEX charges_member_idx ON charges (member_id, due_on);
CREATE INDEX charges_period_idx ON charges (schedule_id, period_start);

-- What became of each payment (transactions row): the matching engine's or a person's decision.
CREATE TABLE payment_decisions (
    transaction_id  bigint PRIMARY KEY REFERENCES transactions (id) ON DELETE CASCADE,
    outcome         text NOT NULL CHECK (outcome IN ('matched', 'partly_paid', 'overpaid',
                        'ambiguous', 'unidentified', 'irrelevant', 'reversed', 'reversal')),
    target_member    uuid REFERENCES members (id),
    target_household uuid REFERENCES households (id),
    rule            text NOT NULL,
    evidence        jsonb NOT NULL DEFAULT '{}'::jsonb,
    by_person       boolean NOT NULL DEFAULT false,
    -- Who decided or confirmed it (a person), and when (also for automatic decisions).
    decided_by      uuid,
    decided_by_email text,
    decided_at      timestamptz NOT NULL,
    CHECK (target_member IS NULL OR target_household IS NULL)
);
CREATE INDEX payment_decisions_queue_idx ON payment_decisions (outcome)
    WHERE outcome IN ('ambiguous', 'unidentified');

-- Parts of payments settling charges. Σ per transaction ≤ its amount (the engine's invariant).
CREATE TABLE allocations (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id bigint NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    charge_id      uuid NOT NULL REFERENCES charges (id),
    member_id      uuid NOT NULL REFERENCES members (id),
    amount_minor   bigint NOT NULL CHECK (amount_minor > 0),
    rule           text NOT NULL,
    evidence       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL
);
CREATE INDEX allocations_transaction_idx ON allocations (transaction_id);
CREATE INDEX allocations_charge_idx ON allocations (charge_id);
CREATE INDEX allocations_member_idx ON allocations (member_id);

-- A person's change to a payment, with the state before and after, so it can be undone.
CREATE TABLE payment_actions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id bigint NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    action         text NOT NULL,
    before         jsonb NOT NULL,
    after          jsonb NOT NULL,
    actor_user_id  uuid,
    actor_email    text,
    at             timestamptz NOT NULL,
    undone_at      timestamptz
);
CREATE INDEX payment_actions_transaction_idx ON payment_actions (transaction_id, id DESC);

-- Moves whenever allocations or decisions change: open fee pages poll it.
CREATE TABLE payment_stamp (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL DEFAULT 0
);
INSERT INTO payment_stamp (singleton) VALUES (true);
