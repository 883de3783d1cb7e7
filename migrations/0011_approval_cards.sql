-- Each approval card's attempts and outcome, so a card the channel refused is retried and a
-- restart resumes it from the log. card_status: pending | sent | failed.
ALTER TABLE approvals ADD COLUMN card_status TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE approvals ADD COLUMN card_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE approvals ADD COLUMN card_error TEXT;

CREATE INDEX approvals_by_card ON approvals (status, card_status);
