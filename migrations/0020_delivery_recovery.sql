-- Deliveries an operator can recover (issue 14). On an outbound row:
-- retry_base: attempts made before the current series; an operator's retry starts a new
--   series, whose attempts are counted from here against the limit.
-- last_error: the error of the newest failed attempt (`<errorClass>: <message>`), also
--   while attempts remain, so `deliveries list` shows why a row is still waiting.
-- platform_message_ids: JSON array of the parts' platform ids when the platform took the
--   message in parts; platform_message_id keeps the first, so explain finds it by that.
ALTER TABLE audit ADD COLUMN retry_base INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit ADD COLUMN last_error TEXT;
ALTER TABLE audit ADD COLUMN platform_message_ids TEXT;
