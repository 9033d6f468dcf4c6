-- Security hardening (issue 12, docs/security.md): operators, abuse limits, and indexes for
-- the housekeeping task's pruning.

-- People who may open /operator. Granted only by `kasa operator add` on the server, never by
-- sign-up or configuration, so nobody can squat the operator's address.
CREATE TABLE app.operators (
    user_id    uuid PRIMARY KEY REFERENCES app.users (id) ON DELETE CASCADE,
    granted_at timestamptz NOT NULL
);

-- Actions counted for abuse limits (src/limits.rs): mails sent on someone's request, sign-ups,
-- clubs created. `subject` is whom the action counts against: a person's id, an e-mail address
-- or a client address. Reserved atomically before the action; pruned by housekeeping.
CREATE TABLE app.action_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action  text NOT NULL,
    subject text NOT NULL,
    at      timestamptz NOT NULL
);
CREATE INDEX action_log_subject_idx ON app.action_log (action, subject, at DESC);
CREATE INDEX action_log_at_idx ON app.action_log (at);

-- `login_attempts.email` is the throttle key: the address as typed and normalised (or
-- `invalid` for input that is no address), or `reauth:<person id>` for a password re-entry.
CREATE INDEX login_attempts_at_idx ON app.login_attempts (at);
CREATE INDEX one_time_tokens_expires_idx ON app.one_time_tokens (expires_at);
CREATE INDEX invitations_expires_idx ON app.invitations (expires_at);
CREATE INDEX invitations_pending_by_idx ON app.invitations (invited_by)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX outbox_sent_idx ON app.outbox (sent_at) WHERE sent_at IS NOT NULL;
