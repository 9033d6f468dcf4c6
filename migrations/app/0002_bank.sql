-- Bank connections (KB consent), the accounts they expose, sync jobs and event subscriptions.
-- Secrets are stored only as vault ciphertexts (`*_enc`, see src/vault.rs), keys only as hashes.

CREATE TABLE app.bank_connections (
    id                      uuid PRIMARY KEY,
    tenant_id               uuid NOT NULL REFERENCES app.tenants (id) ON DELETE CASCADE,
    status                  text NOT NULL
        CHECK (status IN ('registering', 'authorizing', 'active', 'broken', 'disconnected')),
    kb_client_id            text,
    client_secret_enc       text,
    refresh_token_enc       text,
    access_token_enc        text,
    access_token_expires_at timestamptz,
    consent_granted_at      timestamptz,
    consent_expires_at      timestamptz,
    broken_reason           text,
    created_by              uuid REFERENCES app.users (id) ON DELETE SET NULL,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    disconnected_at         timestamptz
);
-- At most one live connection per club.
CREATE UNIQUE INDEX bank_connections_live_key ON app.bank_connections (tenant_id)
    WHERE status <> 'disconnected';

-- One-time `state` of a connect or renew journey, bound to the session, person and club.
CREATE TABLE app.consent_flows (
    state_hash           bytea PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES app.tenants (id) ON DELETE CASCADE,
    user_id              uuid NOT NULL REFERENCES app.users (id) ON DELETE CASCADE,
    session_binding      bytea NOT NULL,
    connection_id        uuid NOT NULL,
    step                 text NOT NULL CHECK (step IN ('registration', 'authorization')),
    -- Step 1: the AES key KB encrypts the callback with. Step 2: the registered client.
    registration_key_enc text,
    kb_client_id         text,
    client_secret_enc    text,
    created_at           timestamptz NOT NULL,
    expires_at           timestamptz NOT NULL
);

-- The accounts a connection exposes (directory for jobs and event routing; the club's own
-- copy with its history lives in the tenant schema under the same id).
CREATE TABLE app.bank_accounts (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES app.tenants (id) ON DELETE CASCADE,
    connection_id uuid NOT NULL REFERENCES app.bank_connections (id) ON DELETE CASCADE,
    kb_account_id text NOT NULL,
    iban          text NOT NULL,
    currency      text NOT NULL,
    created_at    timestamptz NOT NULL,
    CONSTRAINT bank_accounts_connection_account_key UNIQUE (connection_id, kb_account_id)
);

-- One job per bank account: claimed with FOR UPDATE SKIP LOCKED, a lease with heartbeat and a
-- fence re-checked by the final write (ARCHITECTURE.md, "Sync").
CREATE TABLE app.sync_jobs (
    account_id  uuid PRIMARY KEY REFERENCES app.bank_accounts (id) ON DELETE CASCADE,
    tenant_id   uuid NOT NULL REFERENCES app.tenants (id) ON DELETE CASCADE,
    enabled     boolean NOT NULL DEFAULT true,
    due_at      timestamptz NOT NULL,
    lease_owner text,
    lease_until timestamptz,
    fence       bigint NOT NULL DEFAULT 0,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    stale_since timestamptz
);
CREATE INDEX sync_jobs_due_idx ON app.sync_jobs (due_at) WHERE enabled;

-- KB event subscriptions; the x-api-key we gave KB is stored only as its SHA-256.
CREATE TABLE app.event_subscriptions (
    subscription_id text PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES app.bank_accounts (id) ON DELETE CASCADE,
    tenant_id       uuid NOT NULL REFERENCES app.tenants (id) ON DELETE CASCADE,
    key_hash        bytea NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX event_subscriptions_account_idx ON app.event_subscriptions (account_id);

-- The operator's software statement (Client Registration, valid 12 months) and the redirect
-- addresses it was issued for.
CREATE TABLE app.software_statements (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    statement     text NOT NULL,
    redirect_uri  text NOT NULL,
    back_uri      text NOT NULL,
    issued_at     timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
