-- explain looks a message up by its platform id too; without an index that OR is a scan.
CREATE INDEX audit_by_platform_message ON audit (platform_message_id) WHERE platform_message_id IS NOT NULL;
