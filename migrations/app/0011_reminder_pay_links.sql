-- A reminder's pay link no longer replaces the member's link (a breaker's finding: the link a
-- treasurer had handed out, or the one in the previous reminder, stopped working at the next
-- reminder batch). The treasurer's link stays one per member (`kind = 'treasurer'`, replaced
-- when reissued); each reminder e-mail carries a link of its own (`kind = 'reminder'`), which
-- works until the treasurer revokes the member's links (every kind goes). Reminder links are
-- not audited one by one: the batch is.
ALTER TABLE app.pay_links ADD COLUMN kind text NOT NULL DEFAULT 'treasurer'
    CHECK (kind IN ('treasurer', 'reminder'));
ALTER TABLE app.pay_links DROP CONSTRAINT pay_links_tenant_id_member_id_key;
CREATE UNIQUE INDEX pay_links_treasurer_key ON app.pay_links (tenant_id, member_id)
    WHERE kind = 'treasurer';
CREATE INDEX pay_links_member_idx ON app.pay_links (tenant_id, member_id);

-- A treasurer's link is e-mailed to the member at most once (`sent_at`): the e-mail button sent
-- twice, or the request replayed, queues one e-mail. To send again, issue a new link.
ALTER TABLE app.pay_links ADD COLUMN sent_at timestamptz;
