-- The fee pages' stamp moves with everything the fee overview shows (issue 8, performance).
--
-- `payment_stamp.version` already moves in code with every change of decisions and allocations.
-- These triggers move it too when members, their groups, charges, fee schedules or pending
-- incoming payments ("on the way") change, whoever writes them. So an open fee page reloads
-- after those changes as well, and `fee::overview` can keep a computed period per stamp
-- (`fee::overview::Cache`) instead of recomputing 2 000 members' balances for every request.
-- A statement that changed no row does not move it.

CREATE FUNCTION fee_pages_changed() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    -- Each branch names only the transition table its trigger has.
    IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM old_rows) THEN
            UPDATE payment_stamp SET version = version + 1;
        END IF;
    ELSIF EXISTS (SELECT 1 FROM new_rows) THEN
        UPDATE payment_stamp SET version = version + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION fee_pages_row_changed() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    UPDATE payment_stamp SET version = version + 1;
    RETURN NULL;
END
$$;

-- Transition tables allow one event per trigger: three triggers a table.
CREATE TRIGGER members_fee_pages_ins AFTER INSERT ON members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();
CREATE TRIGGER members_fee_pages_upd AFTER UPDATE ON members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();
CREATE TRIGGER members_fee_pages_del AFTER DELETE ON members
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();

CREATE TRIGGER member_group_links_fee_pages_ins AFTER INSERT ON member_group_links
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();
CREATE TRIGGER member_group_links_fee_pages_upd AFTER UPDATE ON member_group_links
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();
CREATE TRIGGER member_group_links_fee_pages_del AFTER DELETE ON member_group_links
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();

CREATE TRIGGER member_groups_fee_pages_upd AFTER UPDATE ON member_groups
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();
CREATE TRIGGER member_groups_fee_pages_del AFTER DELETE ON member_groups
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();

CREATE TRIGGER charges_fee_pages_ins AFTER INSERT ON charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();
CREATE TRIGGER charges_fee_pages_upd AFTER UPDATE ON charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();
CREATE TRIGGER charges_fee_pages_del AFTER DELETE ON charges
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();

CREATE TRIGGER fee_schedules_fee_pages_ins AFTER INSERT ON fee_schedules
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();
CREATE TRIGGER fee_schedules_fee_pages_upd AFTER UPDATE ON fee_schedules
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();
CREATE TRIGGER fee_schedules_fee_pages_del AFTER DELETE ON fee_schedules
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fee_pages_changed();

-- Pending incoming payments are few: one row trigger each, nothing for the booked history.
CREATE TRIGGER transactions_fee_pages_ins AFTER INSERT ON transactions
    FOR EACH ROW WHEN (NEW.status = 'pending' AND NEW.amount_minor > 0)
    EXECUTE FUNCTION fee_pages_row_changed();
CREATE TRIGGER transactions_fee_pages_upd AFTER UPDATE ON transactions
    FOR EACH ROW WHEN ((OLD.status = 'pending' AND OLD.amount_minor > 0)
                       OR (NEW.status = 'pending' AND NEW.amount_minor > 0))
    EXECUTE FUNCTION fee_pages_row_changed();
CREATE TRIGGER transactions_fee_pages_del AFTER DELETE ON transactions
    FOR EACH ROW WHEN (OLD.status = 'pending' AND OLD.amount_minor > 0)
    EXECUTE FUNCTION fee_pages_row_changed();

-- A cache miss reads the pending incoming payments by VS key without scanning the history.
CREATE INDEX transactions_pending_in_idx ON transactions (ltrim(btrim(variable_symbol), '0'))
    WHERE status = 'pending' AND amount_minor > 0 AND NOT reversal AND variable_symbol IS NOT NULL;
