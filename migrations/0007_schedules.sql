-- Scheduled deploys and recurring schedules (issue 13). Times are Unix milliseconds.

-- When a deployment was asked to start (null: as soon as it is queued, the normal path).
ALTER TABLE deployments ADD COLUMN scheduled_for INTEGER;

-- The start of a scheduled deployment. The versions were uploaded (`wrangler versions
-- upload`, no traffic) and recorded when it was scheduled; at `due_at` the Scheduler object
-- (or the cron sweep) claims the row with a conditional update (state pending/waiting, or a
-- `starting` claim older than a minute: a crashed start), so a start is taken by one run
-- only, re-checks the policy, takes the environment's lock and starts the rollout with the
-- recorded `settings` (RolloutSettings JSON).
CREATE TABLE deployment_schedules (
  deployment_id   TEXT PRIMARY KEY REFERENCES deployments(id) ON DELETE CASCADE,
  team_id         TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  due_at          INTEGER NOT NULL,
  settings        TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('pending', 'starting', 'waiting', 'started',
                    'skipped', 'failed', 'cancelled')),
  reason          TEXT,
  recurring_id    TEXT,
  claimed_at      INTEGER,
  attempts        INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  ended_at        INTEGER
);
CREATE INDEX deployment_schedules_due ON deployment_schedules(state, due_at);

-- A recurring schedule: at each occurrence of `cron` (5 fields, UTC) a deployment of the
-- environment is created from the newest succeeded deployment of `source_environment_id`
-- (same Worker names) or, when null, of the environment itself, and started like a scheduled
-- one. `next_at` is advanced with a conditional update, so one occurrence makes one deployment.
CREATE TABLE recurring_schedules (
  id                     TEXT PRIMARY KEY,
  team_id                TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  project_id             TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  environment_id         TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  cron                   TEXT NOT NULL,
  source_environment_id  TEXT REFERENCES environments(id) ON DELETE CASCADE,
  strategy               TEXT NOT NULL CHECK (strategy IN ('immediate', 'gradual', 'blue-green')),
  settings               TEXT NOT NULL,
  message                TEXT,
  created_by             TEXT NOT NULL,
  next_at                INTEGER NOT NULL,
  last_occurrence_at     INTEGER,
  last_deployment_id     TEXT,
  last_error             TEXT,
  created_at             INTEGER NOT NULL,
  deleted_at             INTEGER
);
CREATE INDEX recurring_schedules_due ON recurring_schedules(deleted_at, next_at);
CREATE INDEX recurring_schedules_env ON recurring_schedules(team_id, environment_id);
