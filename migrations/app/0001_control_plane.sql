-- Control plane: clubs (tenants), people, memberships, invitations, one-time tokens,
-- login attempts and the e-mail outbox. Always schema-qualified.

-- The empty schema every runtime connection starts in (fail closed).
CREATE SCHEMA IF NOT EXISTS kasa_empty;
REVOKE ALL ON SCHEMA kasa_empty FROM PUBLIC;

CREATE TABLE app.tenants (
    id             uuid PRIMARY KEY,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    ico            text NOT NULL CHECK (ico ~ '^[0-9]{8}$'),
    schema_name    text NOT NULL UNIQUE CHECK (schema_name ~ '^t_[a-z2-7]{26}$'),
    -- Which PostgreSQL instance holds the schema (tenant directory, for a later split).
    db_shard       text NOT NULL DEFAULT 'main',
    schema_version bigint NOT NULL DEFAULT 0,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE app.users (
    id                 uuid PRIMARY KEY,
    email              text NOT NULL,
    password_hash      text NOT NULL,
    email_confirmed_at timestamptz,
    locale             text NOT NULL DEFAULT 'cs' CHECK (locale IN ('cs', 'en')),
    -- Bumped when the password changes: sessions carrying an older epoch end.
    session_epoch      integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON app.users (lower(email));

CREATE TABLE app.memberships (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES app.tenants (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES app.users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner', 'treasurer', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT memberships_tenant_user_key UNIQUE (tenant_id, user_id)
);
CREATE INDEX memberships_user_idx ON app.memberships (user_id);

CREATE TABLE app.invitations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES app.tenants (id) ON DELETE CASCADE,
    email       text NOT NULL,
    role        text NOT NULL CHECK (role IN ('owner', 'treasurer', 'viewer')),
    token_hash  bytea NOT NULL UNIQUE,
    invited_by  uuid REFERENCES app.users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX invitations_tenant_idx ON app.invitations (tenant_id);

-- E-mail confirmation and password reset links; only the SHA-256 of the token is stored.
CREATE TABLE app.one_time_tokens (
    token_hash bytea PRIMARY KEY,
    purpose    text NOT NULL CHECK (purpose IN ('confirm_email', 'reset_password')),
    user_id    uuid NOT NULL REFERENCES app.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX one_time_tokens_user_idx ON app.one_time_tokens (user_id, purpose);

CREATE TABLE app.login_attempts (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email     text NOT NULL,
    ip        text,
    succeeded boolean NOT NULL,
    at        timestamptz NOT NULL
);
CREATE INDEX login_attempts_email_idx ON app.login_attempts (email, at DESC);
CREATE INDEX login_attempts_ip_idx ON app.login_attempts (ip, at DESC);

CREATE TABLE app.outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient       text NOT NULL,
    subject         text NOT NULL,
    body_text       text NOT NULL,
    -- Makes "send this once" idempotent across restarts and instances (e.g. reminders).
    dedup_key       text UNIQUE,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    sent_at         timestamptz,
    last_error      text
);
CREATE INDEX outbox_pending_idx ON app.outbox (next_attempt_at) WHERE sent_at IS NULL;
