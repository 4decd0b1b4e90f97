-- Clodo's first schema: teams and their people and tokens, what they deploy, and what happened.
-- Times are Unix milliseconds (INTEGER, within JavaScript's safe range); ids are text
-- (UUIDs or prefixed ids) so they never need BigInt in D1.

CREATE TABLE teams (
  id          TEXT PRIMARY KEY,
  slug        TEXT NOT NULL UNIQUE CHECK (length(slug) BETWEEN 1 AND 64),
  name        TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);

CREATE TABLE members (
  id          TEXT PRIMARY KEY,
  team_id     TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  email       TEXT NOT NULL,
  name        TEXT,
  role        TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'approver', 'admin')),
  created_at  INTEGER NOT NULL,
  UNIQUE (team_id, email)
);

-- Tokens are shown once; only a SHA-256 of the secret is kept. `prefix` (the first characters)
-- lets people recognise a token in listings without exposing it.
CREATE TABLE api_tokens (
  id           TEXT PRIMARY KEY,
  team_id      TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  member_id    TEXT REFERENCES members(id) ON DELETE SET NULL,
  name         TEXT NOT NULL,
  prefix       TEXT NOT NULL,
  secret_hash  TEXT NOT NULL UNIQUE,
  role         TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'approver', 'admin')),
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,
  revoked_at   INTEGER,
  last_used_at INTEGER
);
CREATE INDEX api_tokens_team ON api_tokens(team_id);

CREATE TABLE projects (
  id          TEXT PRIMARY KEY,
  team_id     TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  slug        TEXT NOT NULL CHECK (length(slug) BETWEEN 1 AND 64),
  name        TEXT NOT NULL,
  repository  TEXT,
  created_at  INTEGER NOT NULL,
  UNIQUE (team_id, slug)
);

-- A service is one Worker of a project, described by its wrangler config.
CREATE TABLE services (
  id              TEXT PRIMARY KEY,
  team_id         TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  name            TEXT NOT NULL,
  config_path     TEXT NOT NULL,
  config_text     TEXT,
  created_at      INTEGER NOT NULL,
  UNIQUE (project_id, name)
);

CREATE TABLE environments (
  id                    TEXT PRIMARY KEY,
  team_id               TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  project_id            TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  name                  TEXT NOT NULL,
  cloudflare_account_id TEXT,
  created_at            INTEGER NOT NULL,
  UNIQUE (project_id, name)
);

CREATE TABLE deployments (
  id              TEXT PRIMARY KEY,
  team_id         TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  status          TEXT NOT NULL CHECK (status IN ('requested', 'assessing', 'awaiting_approval',
                    'queued', 'deploying', 'verifying', 'succeeded', 'failed', 'rolled_back',
                    'cancelled')),
  strategy        TEXT NOT NULL CHECK (strategy IN ('immediate', 'gradual', 'blue-green')),
  requested_by    TEXT NOT NULL,
  git_ref         TEXT,
  git_sha         TEXT,
  message         TEXT,
  created_at      INTEGER NOT NULL,
  started_at      INTEGER,
  finished_at     INTEGER
);
CREATE INDEX deployments_env_time ON deployments(environment_id, created_at DESC);
CREATE INDEX deployments_team_time ON deployments(team_id, created_at DESC);

-- What each deployment did per service: the version uploaded and the one it replaced.
CREATE TABLE deployment_services (
  deployment_id        TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  service_id           TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
  version_id           TEXT,
  previous_version_id  TEXT,
  status               TEXT NOT NULL,
  PRIMARY KEY (deployment_id, service_id)
);

CREATE TABLE deployment_events (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  deployment_id  TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  at             INTEGER NOT NULL,
  kind           TEXT NOT NULL,
  from_status    TEXT,
  to_status      TEXT,
  detail         TEXT
);
CREATE INDEX deployment_events_deployment ON deployment_events(deployment_id, id);

-- Append-only: the triggers refuse UPDATE and DELETE so no code path can rewrite history.
CREATE TABLE audit_log (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  team_id      TEXT NOT NULL,
  at           INTEGER NOT NULL,
  actor        TEXT NOT NULL,
  action       TEXT NOT NULL,
  target_type  TEXT NOT NULL,
  target_id    TEXT NOT NULL,
  before_json  TEXT,
  after_json   TEXT
);
CREATE INDEX audit_log_team_time ON audit_log(team_id, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
