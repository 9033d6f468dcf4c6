-- Getting paid (issue 9): the members' own pages and mail attachments.

-- A member's own page is reached by an unguessable link (256 random bits) that names neither
-- the club nor the member. Only the SHA-256 of the token is stored; the treasurer can revoke it
-- (the row goes) or issue a new one (the row's hash is replaced). One link per member. The
-- member id points into the club's schema (no foreign key across schemas).
CREATE TABLE app.pay_links (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    tenant_id  uuid NOT NULL REFERENCES app.tenants (id),
    member_id  uuid NOT NULL,
    issued_at  timestamptz NOT NULL,
    issued_by  uuid,
    UNIQUE (tenant_id, member_id)
);

-- Files sent with an e-mail (multipart/mixed): `[{"filename", "content_type", "content_base64"}]`.
ALTER TABLE app.outbox ADD COLUMN attachments jsonb NOT NULL DEFAULT '[]'::jsonb;
