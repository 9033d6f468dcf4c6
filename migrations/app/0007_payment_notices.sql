-- "Payment received" e-mails a teammate subscribed to (issue 9, item 4): one per matched
-- payment, or a daily digest. No row: none (the default).
CREATE TABLE app.payment_notice_subscriptions (
    tenant_id uuid NOT NULL REFERENCES app.tenants (id),
    user_id   uuid NOT NULL REFERENCES app.users (id) ON DELETE CASCADE,
    mode      text NOT NULL CHECK (mode IN ('each', 'daily')),
    since     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
