-- One bank account is one account for its whole life (issue 10, item 6): merge the copies
-- earlier reconnects made (app.merge_duplicate_bank_accounts, app migration 0010), then keep
-- the identity (IBAN and currency within the club) unique.
SELECT app.merge_duplicate_bank_accounts(t.id) FROM app.tenants t WHERE t.schema_name = current_schema();

CREATE UNIQUE INDEX bank_accounts_identity_key
    ON bank_accounts (upper(replace(iban, ' ', '')), currency);
