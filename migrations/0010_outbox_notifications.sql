-- The outbox and notification channels (issue 15). Times are Unix milliseconds.

-- Durable deferred work: one row per delivery. `id` is the delivery's idempotency key (a
-- notification's is `evt<event id>_<channel id>`), so an event can never queue the same
-- delivery twice (`INSERT OR IGNORE`), and it is the `webhook-id` every attempt carries.
-- `kind` names the handler that performs it (`channel`: a notification or a monitoring
-- marker sent to `target`, a notification channel); other kinds of deferred work add a
-- handler. The Outbox Durable Object's alarm (and the every-minute cron sweep) attempts due
-- rows: an attempt first claims the row (`lease_until`, one minute) with a conditional
-- update, so two runs never attempt one row at once, and a run that crashed mid-attempt is
-- retried once its lease lapses.
CREATE TABLE outbox (
  id               TEXT PRIMARY KEY,
  team_id          TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  kind             TEXT NOT NULL,
  target           TEXT,
  event_type       TEXT,
  payload          TEXT NOT NULL,
  state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER NOT NULL,
  lease_until      INTEGER,
  last_status      INTEGER,
  last_error       TEXT,
  created_at       INTEGER NOT NULL,
  finished_at      INTEGER
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
CREATE INDEX outbox_target ON outbox(team_id, target, created_at);

-- Every attempt of a delivery: the delivery log.
CREATE TABLE outbox_attempts (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  entry_id  TEXT NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
  attempt   INTEGER NOT NULL,
  at        INTEGER NOT NULL,
  status    INTEGER,
  outcome   TEXT NOT NULL,
  detail    TEXT
);
CREATE INDEX outbox_attempts_entry ON outbox_attempts(entry_id, id);

-- A notification channel of a project (all its environments, or one): where events go.
-- `events` is the filter as `,type,type,` (so `instr` matches whole names). `settings` is
-- the non-secret configuration (JSON), `secret` the AES-GCM ciphertext of the parts that are
-- secret (webhook URLs with tokens, API keys, signing secrets), never returned by the API.
-- A channel is disabled when its endpoint answers 410 Gone.
CREATE TABLE notification_channels (
  id               TEXT PRIMARY KEY,
  team_id          TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  project_id       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  environment_id   TEXT REFERENCES environments(id) ON DELETE CASCADE,
  name             TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  kind             TEXT NOT NULL CHECK (kind IN ('slack', 'discord', 'email', 'webhook',
                     'sentry', 'datadog', 'newrelic')),
  events           TEXT NOT NULL,
  settings         TEXT NOT NULL,
  secret           TEXT NOT NULL,
  enabled          INTEGER NOT NULL DEFAULT 1,
  disabled_reason  TEXT,
  created_by       TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  UNIQUE (team_id, project_id, name)
);
CREATE INDEX notification_channels_project ON notification_channels(team_id, project_id);

-- The notifications of a deployment event, queued in the statement that records the event:
-- every writer of `deployment_events` (the deployment service's batches, the rollout's
-- commands, its end record) commits its notifications with it, and none can forget them.
-- The event's type (the names of `notify::EventType`) comes from its kind and new status;
-- events of no type (uploads, Pages, migrations) notify nobody. The payload is a snapshot
-- taken now, so every attempt sends the same body.
CREATE TRIGGER deployment_events_notify AFTER INSERT ON deployment_events
BEGIN
  INSERT OR IGNORE INTO outbox (id, team_id, kind, target, event_type, payload, next_attempt_at, created_at)
  SELECT 'evt' || NEW.id || '_' || c.id, d.team_id, 'channel', c.id, ev.type,
    json_object(
      'type', ev.type, 'event_id', NEW.id, 'at', NEW.at,
      'deployment', json_object(
        'id', d.id, 'project', p.slug, 'environment', e.name, 'status', d.status,
        'strategy', d.strategy, 'git_ref', d.git_ref, 'git_sha', d.git_sha,
        'message', d.message, 'requested_by', d.requested_by, 'created_at', d.created_at,
        'started_at', d.started_at, 'finished_at', d.finished_at,
        'promoted_from', d.promoted_from)),
    NEW.at, NEW.at
  FROM (SELECT CASE
          WHEN NEW.kind = 'requested' THEN 'deployment.created'
          WHEN NEW.to_status = 'awaiting_approval' THEN 'deployment.awaiting_approval'
          WHEN NEW.to_status = 'deploying' THEN 'deployment.started'
          WHEN NEW.to_status IN ('succeeded', 'failed', 'rolled_back', 'cancelled')
            THEN 'deployment.' || NEW.to_status
          WHEN NEW.kind = 'rollout_command'
            AND (CASE WHEN json_valid(NEW.detail) THEN json_extract(NEW.detail, '$.command') END) = 'pause'
            THEN 'deployment.paused'
          WHEN NEW.kind = 'rollout_lock_lost' THEN 'deployment.lock_lost'
        END AS type) ev
  JOIN deployments d ON d.id = NEW.deployment_id
  JOIN projects p ON p.id = d.project_id
  JOIN environments e ON e.id = d.environment_id
  JOIN notification_channels c ON c.team_id = d.team_id AND c.project_id = d.project_id
    AND (c.environment_id IS NULL OR c.environment_id = d.environment_id)
  WHERE ev.type IS NOT NULL AND c.enabled = 1 AND instr(c.events, ',' || ev.type || ',') > 0;
END;
