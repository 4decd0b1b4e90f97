-- Issue 11 (safety of the control plane): idempotency scoped to the calling token with a
-- claim row, who created each token, and who (as a person) requested each deployment.
-- Times are Unix milliseconds, like 0001.

-- The old table was keyed by team (a teammate's token could replay another's answer) and kept
-- full answers, including the secret of a newly created API token. Dropping it deletes them.
DROP TABLE IF EXISTS idempotency_keys;

-- One row per (token, key). A request first claims its key with a `pending` row (so a second
-- request with the same key, racing the first, sees the claim and is refused instead of doing
-- the work twice); on success the row becomes `done` with the answer, which is replayed for
-- 24 hours and then deleted. A `pending` row whose request crashed can be taken over after a
-- few minutes (`claimed_at`). Answers never hold a secret: `secret_withheld` marks an answer
-- whose secret was removed before storing; its replay is refused with an explanation.
CREATE TABLE idempotency_requests (
  token_id         TEXT NOT NULL,
  key              TEXT NOT NULL,
  method           TEXT NOT NULL,
  path             TEXT NOT NULL,
  -- SHA-256 of the request body: the same key with another body is a client bug, refused.
  request_hash     TEXT NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('pending', 'done')),
  status           INTEGER,
  body             TEXT,
  secret_withheld  INTEGER NOT NULL DEFAULT 0,
  created_at       INTEGER NOT NULL,
  claimed_at       INTEGER NOT NULL,
  PRIMARY KEY (token_id, key)
);
CREATE INDEX idempotency_requests_created ON idempotency_requests(created_at);

-- The member whose token created this token (NULL for the bootstrap/operator path and for
-- tokens created before this migration). Not a foreign key: it must outlive the member, so
-- removing the member can find and revoke every token they minted.
ALTER TABLE api_tokens ADD COLUMN created_by_member_id TEXT;
CREATE INDEX api_tokens_created_by ON api_tokens(created_by_member_id);

-- The person accountable for a deployment, as a lower-cased email: the token's member, or
-- for a token not tied to a member, the member who created that token. Approvals compare
-- people by it, so an author cannot approve their own deployment with another token.
ALTER TABLE deployments ADD COLUMN requested_by_member TEXT;
