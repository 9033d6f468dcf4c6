-- A club's own schema. Unqualified names: the runner sets search_path to the tenant's schema.
-- No foreign keys to `app` or to other tenants (each schema is self-contained and movable).

CREATE TABLE audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL,
    actor_user_id uuid,
    actor_email   text,
    action        text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
