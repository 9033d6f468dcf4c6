-- Identified payments with a remainder: matching reads them on every run
-- (`payment::input::with_credit`: a credit settles the member's next charge). The queue's
-- unidentified payments have a remainder too (nothing of them is allocated), tens of thousands
-- in a big club's history, so `payment_decisions_left_idx` alone still made every notification
-- sync read them all.
CREATE INDEX IF NOT EXISTS payment_decisions_credit_idx ON payment_decisions (transaction_id)
    WHERE left_minor > 0 AND (target_member IS NOT NULL OR target_household IS NOT NULL);
