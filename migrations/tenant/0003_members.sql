-- The club's members (the people who pay fees), their households, groups, the club's variable
-- symbol scheme, and CSV imports waiting for the treasurer's confirmation.
-- A variable symbol (VS) is stored as entered (`variable_symbol`, leading zeros kept) and by its
-- numeric form (`vs_key`, leading zeros stripped), which is what uniqueness and matching compare.
-- Members are never deleted (archived_at), so payments keep pointing at them.

CREATE TABLE households (
    id                 uuid PRIMARY KEY,
    name               text NOT NULL,
    variable_symbol    text,
    vs_key             text UNIQUE,
    -- The member who pays for the household (a parent who is a member), if any.
    guardian_member_id uuid,
    -- The payer's name when the guardian is not a member (e.g. a parent of two young players).
    guardian_name      text,
    created_at         timestamptz NOT NULL,
    CHECK ((variable_symbol IS NULL) = (vs_key IS NULL))
);

CREATE TABLE members (
    id              uuid PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    variable_symbol text NOT NULL CHECK (variable_symbol ~ '^[0-9]{1,10}$'),
    vs_key          text NOT NULL UNIQUE CHECK (vs_key ~ '^[1-9][0-9]{0,9}$'),
    household_id    uuid REFERENCES households (id),
    archived_at     timestamptz,
    emails          text[] NOT NULL DEFAULT '{}',
    phone           text,
    birth_date      date,
    joined_on       date,
    note            text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX members_name_idx ON members (lower(name));
CREATE INDEX members_emails_idx ON members USING gin (emails);
CREATE INDEX members_household_idx ON members (household_id);

ALTER TABLE households
    ADD CONSTRAINT households_guardian_fk FOREIGN KEY (guardian_member_id) REFERENCES members (id);

CREATE TABLE member_groups (
    id   uuid PRIMARY KEY,
    name text NOT NULL UNIQUE
);

CREATE TABLE member_group_links (
    member_id uuid NOT NULL REFERENCES members (id),
    group_id  uuid NOT NULL REFERENCES member_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (member_id, group_id)
);
CREATE INDEX member_group_links_group_idx ON member_group_links (group_id);

-- One row: how the club assigns a VS to a new member left without one.
CREATE TABLE member_settings (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    vs_scheme text NOT NULL DEFAULT 'sequential'
        CHECK (vs_scheme IN ('sequential', 'year_number', 'imported'))
);
INSERT INTO member_settings (singleton) VALUES (true);

-- A CSV upload between "upload" and "confirm": the decoded text, nothing imported yet.
-- Rows older than `expires_at` are deleted by the next upload of the club.
CREATE TABLE member_imports (
    id          uuid PRIMARY KEY,
    created_by  uuid,
    file_name   text NOT NULL,
    -- Which encoding the file was detected as ('utf-8', 'utf-8-bom', 'windows-1250').
    encoding    text NOT NULL,
    delimiter   text NOT NULL CHECK (delimiter IN (';', ',')),
    content     text NOT NULL,
    -- Column index → field name, chosen on the mapping step (auto-guessed at upload).
    mapping     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
