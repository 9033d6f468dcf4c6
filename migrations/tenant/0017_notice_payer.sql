-- "Payment received" notices and thank-yous for a person's assignments too (issue 9 gaps):
-- which payer each was about, so that a confirmation announces nothing again, a reassignment
-- announces the new payer, and an undo withdraws what is still unsent. The payer is written as
-- the reminder form's key: `m:<member uuid>` or `h:<household uuid>`.
ALTER TABLE received_payments ADD COLUMN IF NOT EXISTS payer text;
ALTER TABLE reminder_thanks ADD COLUMN IF NOT EXISTS payer text;

UPDATE received_payments r
   SET payer = COALESCE('m:' || d.target_member::text, 'h:' || d.target_household::text)
  FROM payment_decisions d
 WHERE d.transaction_id = r.transaction_id AND r.payer IS NULL;
UPDATE reminder_thanks r
   SET payer = COALESCE('m:' || d.target_member::text, 'h:' || d.target_household::text)
  FROM payment_decisions d
 WHERE d.transaction_id = r.transaction_id AND r.payer IS NULL;
