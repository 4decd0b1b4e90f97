-- Lock changes are audited by the DeployLock Durable Object itself (issue 18): it stores each
-- change's entry with the change and writes the entries to `audit_log` from its alarm. A
-- write retried after it committed must insert nothing twice, so an entry written this way
-- carries its source's key (`lock:<environment id>:<object sequence number>`), unique here;
-- entries written by the API in the batch of their change have none.
ALTER TABLE audit_log ADD COLUMN source_key TEXT;
CREATE UNIQUE INDEX audit_log_source_key ON audit_log(source_key) WHERE source_key IS NOT NULL;
