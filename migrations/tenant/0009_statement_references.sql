-- Payment decisions and allocations check their references once per statement, not per row
-- (issue 8, performance).
--
-- A first sync writes tens of thousands of decisions and allocations in one statement each.
-- PostgreSQL checks a foreign key row by row (an index probe through SPI per row and key): on the
-- benchmark's first sync (55 000 decisions, 17 000 allocations) those checks were about 70 % of
-- matching's write. The same rules are kept here by triggers that check the whole statement's
-- rows at once (transition tables):
--
-- - payment_decisions.transaction_id → transactions (ON DELETE CASCADE)
-- - payment_decisions.target_member → members, .target_household → households
-- - allocations.transaction_id → transactions (ON DELETE CASCADE)
-- - allocations.charge_id → charges, .member_id → members
--
-- A missing row raises SQLSTATE 23503 (foreign_key_violation), as the constraint did. Deleting a
-- member, household or charge that a decision or allocation refers to raises it too; deleting
-- transactions deletes their decisions and allocations. Row ids never change (enforced below).
--
-- Concurrency: a foreign key's check locks the referenced row (FOR KEY SHARE) so a concurrent
-- delete waits. Here every writer of decisions and allocations holds the club's matching lock
-- (`payment::lock_matching`: pg_advisory_xact_lock(hashtext(schema), 8)), and the delete-side
-- triggers take the same lock before they look, so an insert and a delete of the row it refers
-- to are serialised the same way.

ALTER TABLE payment_decisions
    DROP CONSTRAINT payment_decisions_transaction_id_fkey,
    DROP CONSTRAINT payment_decisions_target_member_fkey,
    DROP CONSTRAINT payment_decisions_target_household_fkey;
ALTER TABLE allocations
    DROP CONSTRAINT allocations_transaction_id_fkey,
    DROP CONSTRAINT allocations_charge_id_fkey,
    DROP CONSTRAINT allocations_member_id_fkey;

CREATE FUNCTION reference_missing(what text) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION '% refers to a row that does not exist', what
        USING ERRCODE = 'foreign_key_violation';
END
$$;

-- Inserted decisions: one anti-join per reference for the whole statement.
CREATE FUNCTION payment_decisions_refer() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n
                WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.id = n.transaction_id))
    THEN
        PERFORM reference_missing('a payment decision''s transaction');
    END IF;
    IF EXISTS (SELECT 1 FROM new_rows n
                WHERE n.target_member IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM members m WHERE m.id = n.target_member))
    THEN
        PERFORM reference_missing('a payment decision''s member');
    END IF;
    IF EXISTS (SELECT 1 FROM new_rows n
                WHERE n.target_household IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM households h WHERE h.id = n.target_household))
    THEN
        PERFORM reference_missing('a payment decision''s household');
    END IF;
    RETURN NULL;
END
$$;

-- A changed reference of one decision (rare: a decision made again for another member).
CREATE FUNCTION payment_decisions_refer_row() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM transactions WHERE id = NEW.transaction_id)
       OR (NEW.target_member IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM members WHERE id = NEW.target_member))
       OR (NEW.target_household IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM households WHERE id = NEW.target_household))
    THEN
        PERFORM reference_missing('a payment decision');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER payment_decisions_refer_ins AFTER INSERT ON payment_decisions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION payment_decisions_refer();
CREATE TRIGGER payment_decisions_refer_upd AFTER UPDATE ON payment_decisions FOR EACH ROW
    WHEN (NEW.transaction_id IS DISTINCT FROM OLD.transaction_id
          OR NEW.target_member IS DISTINCT FROM OLD.target_member
          OR NEW.target_household IS DISTINCT FROM OLD.target_household)
    EXECUTE FUNCTION payment_decisions_refer_row();

CREATE FUNCTION allocations_refer() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n
                WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.id = n.transaction_id))
    THEN
        PERFORM reference_missing('an allocation''s transaction');
    END IF;
    IF EXISTS (SELECT 1 FROM new_rows n
                WHERE NOT EXISTS (SELECT 1 FROM charges c WHERE c.id = n.charge_id))
    THEN
        PERFORM reference_missing('an allocation''s charge');
    END IF;
    IF EXISTS (SELECT 1 FROM new_rows n
                WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.id = n.member_id))
    THEN
        PERFORM reference_missing('an allocation''s member');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION allocations_refer_row() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM transactions WHERE id = NEW.transaction_id)
       OR NOT EXISTS (SELECT 1 FROM charges WHERE id = NEW.charge_id)
       OR NOT EXISTS (SELECT 1 FROM members WHERE id = NEW.member_id)
    THEN
        PERFORM reference_missing('an allocation');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER allocations_refer_ins AFTER INSERT ON allocations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION allocations_refer();
CREATE TRIGGER allocations_refer_upd AFTER UPDATE ON allocations FOR EACH ROW
    WHEN (NEW.transaction_id IS DISTINCT FROM OLD.transaction_id
          OR NEW.charge_id IS DISTINCT FROM OLD.charge_id
          OR NEW.member_id IS DISTINCT FROM OLD.member_id)
    EXECUTE FUNCTION allocations_refer_row();

-- Deleted transactions take their decisions and allocations with them (ON DELETE CASCADE).
CREATE FUNCTION transactions_cascade_payments() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows) THEN
        PERFORM pg_advisory_xact_lock(hashtext(current_schema()), 8);
        DELETE FROM allocations WHERE transaction_id IN (SELECT id FROM old_rows);
        DELETE FROM payment_decisions WHERE transaction_id IN (SELECT id FROM old_rows);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER transactions_cascade_payments AFTER DELETE ON transactions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION transactions_cascade_payments();

-- Members, households and charges a decision or allocation refers to cannot be deleted.
CREATE FUNCTION payments_keep_referenced() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM old_rows) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(current_schema()), 8);
    IF TG_TABLE_NAME = 'members' THEN
        IF EXISTS (SELECT 1 FROM payment_decisions d JOIN old_rows o ON o.id = d.target_member)
           OR EXISTS (SELECT 1 FROM allocations a JOIN old_rows o ON o.id = a.member_id)
        THEN
            PERFORM reference_missing('a payment decision or allocation (member deleted)');
        END IF;
    ELSIF TG_TABLE_NAME = 'households' THEN
        IF EXISTS (SELECT 1 FROM payment_decisions d JOIN old_rows o ON o.id = d.target_household)
        THEN
            PERFORM reference_missing('a payment decision (household deleted)');
        END IF;
    ELSIF TG_TABLE_NAME = 'charges' THEN
        IF EXISTS (SELECT 1 FROM allocations a JOIN old_rows o ON o.id = a.charge_id) THEN
            PERFORM reference_missing('an allocation (charge deleted)');
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER members_keep_referenced AFTER DELETE ON members
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION payments_keep_referenced();
CREATE TRIGGER households_keep_referenced AFTER DELETE ON households
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION payments_keep_referenced();
CREATE TRIGGER charges_keep_referenced AFTER DELETE ON charges
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION payments_keep_referenced();

-- The ids these references use never change (transactions.id is GENERATED ALWAYS already).
CREATE FUNCTION ids_are_immutable() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION '%.id cannot change', TG_TABLE_NAME
        USING ERRCODE = 'foreign_key_violation';
END
$$;
CREATE TRIGGER members_id_immutable BEFORE UPDATE ON members FOR EACH ROW
    WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION ids_are_immutable();
CREATE TRIGGER households_id_immutable BEFORE UPDATE ON households FOR EACH ROW
    WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION ids_are_immutable();
CREATE TRIGGER charges_id_immutable BEFORE UPDATE ON charges FOR EACH ROW
    WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION ids_are_immutable();
