-- Rollouts take their authority from the server's records (issue 11): which Worker a service
-- is in each environment, what each deployment uploaded, and the rollout starts and commands
-- people gave, each written in one batch with its audit entry. Times are Unix milliseconds.

-- The Worker (script) a service deploys as in one environment (wrangler's `[env.NAME]` often
-- renames it). Set by an admin (or an admin's `clodo deploy`); a deployer can only deploy
-- what is registered. One Worker serves one service of an environment.
CREATE TABLE service_scripts (
  service_id      TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
  environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  team_id         TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  script_name     TEXT NOT NULL CHECK (length(script_name) BETWEEN 1 AND 63),
  updated_by      TEXT NOT NULL,
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (service_id, environment_id),
  UNIQUE (environment_id, script_name)
);

-- What a deployment uploaded, recorded by the server after it checked with Cloudflare that
-- the version exists for that Worker in the environment's account. The rollout moves only
-- these. `already_live`: `wrangler deploy` put the version at 100% itself.
ALTER TABLE deployment_services ADD COLUMN script_name TEXT;
ALTER TABLE deployment_services ADD COLUMN already_live INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployment_services ADD COLUMN recorded_by TEXT;
ALTER TABLE deployment_services ADD COLUMN recorded_at INTEGER;

-- A started rollout: the spec the server built, written with its audit entry; the Rollout
-- Durable Object is started from this row (again, if a crash came between the two).
CREATE TABLE rollouts (
  deployment_id  TEXT PRIMARY KEY REFERENCES deployments(id) ON DELETE CASCADE,
  team_id        TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  account_id     TEXT NOT NULL,
  spec           TEXT NOT NULL,
  started_by     TEXT NOT NULL,
  started_at     INTEGER NOT NULL
);

-- Commands people give a rollout, written with their audit entry; the Rollout Durable
-- Object applies them in id order and remembers the last one it applied.
CREATE TABLE rollout_commands (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  deployment_id  TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  team_id        TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  command        TEXT NOT NULL CHECK (command IN ('pause', 'resume', 'promote', 'abort')),
  actor          TEXT NOT NULL,
  created_at     INTEGER NOT NULL
);
CREATE INDEX rollout_commands_deployment ON rollout_commands(deployment_id, id);
