-- The control plane (issue 5): environment policies, approvals, encrypted Cloudflare
-- credentials, idempotency keys, and the deployment columns policy checks need.
-- Times are Unix milliseconds, like 0001.

-- One policy document per environment (JSON validated by control::policy::Policy before it is
-- stored): required approvals, branch globs, weekly windows with time zones, one-off freezes.
CREATE TABLE environment_policies (
  environment_id  TEXT PRIMARY KEY REFERENCES environments(id) ON DELETE CASCADE,
  team_id         TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  document        TEXT NOT NULL,
  updated_by      TEXT NOT NULL,
  updated_at      INTEGER NOT NULL
);

-- One approval per person per deployment; the unique key makes a double click harmless.
CREATE TABLE approvals (
  id             TEXT PRIMARY KEY,
  team_id        TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  deployment_id  TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  actor          TEXT NOT NULL,
  role           TEXT NOT NULL,
  comment        TEXT,
  created_at     INTEGER NOT NULL,
  UNIQUE (deployment_id, actor)
);
CREATE INDEX approvals_team ON approvals(team_id, deployment_id);

-- Cloudflare API tokens per team and account. `ciphertext` is AES-256-GCM under the Worker
-- secret CLODO_ENCRYPTION_KEY with the team id as associated data; no endpoint returns it.
CREATE TABLE cloudflare_credentials (
  id          TEXT PRIMARY KEY,
  team_id     TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  account_id  TEXT NOT NULL,
  name        TEXT NOT NULL,
  ciphertext  TEXT NOT NULL,
  created_by  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  UNIQUE (team_id, account_id)
);

-- A replayed POST with the same Idempotency-Key gets the first answer back instead of doing
-- the work twice. Scoped by team so keys of different teams never collide.
CREATE TABLE idempotency_keys (
  team_id      TEXT NOT NULL,
  key          TEXT NOT NULL,
  method       TEXT NOT NULL,
  path         TEXT NOT NULL,
  -- SHA-256 of the request body: the same key with another body is a client bug, refused.
  request_hash TEXT NOT NULL,
  status       INTEGER NOT NULL,
  body         TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (team_id, key)
);

-- The emergency override a deployment used (with its reason and the rules it overrode), and
-- who requested it as an actor id comparable with approvals.
ALTER TABLE deployments ADD COLUMN override_reason TEXT;
ALTER TABLE deployments ADD COLUMN overridden_rules TEXT;
ALTER TABLE deployments ADD COLUMN required_approvals INTEGER NOT NULL DEFAULT 0;

CREATE INDEX members_team ON members(team_id);
CREATE INDEX projects_team ON projects(team_id);
