-- Server-side rollbacks and the Slack app (issue 15). Times are Unix ms.

-- A rollback the server made (`POST …/environments/{env}/rollback`): the deployment that
-- records it, the deployment that was live and the one whose versions went back to 100%.
-- The rollback deployment's own `deployment_services` rows hold the versions it served, so
-- it is "what is live" for the next rollback; `outcome` is the answer it gave, replayed when
-- the environment is asked to roll back again while this rollback is still what is live.
CREATE TABLE environment_rollbacks (
  deployment_id       TEXT PRIMARY KEY REFERENCES deployments(id) ON DELETE CASCADE,
  team_id             TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  environment_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  from_deployment_id  TEXT NOT NULL,
  to_deployment_id    TEXT NOT NULL,
  outcome             TEXT NOT NULL,
  created_at          INTEGER NOT NULL
);
CREATE INDEX environment_rollbacks_environment ON environment_rollbacks(environment_id, created_at);

-- One Slack app per team. The signing secret and the bot token are AES-256-GCM under
-- CLODO_ENCRYPTION_KEY with the team id as associated data (like cloudflare_credentials); no
-- endpoint returns them. `api_base_url` is https://slack.com/api in production (a loopback
-- fake in tests); `channel` is where approval requests and assessment reports are posted.
CREATE TABLE slack_apps (
  team_id                    TEXT PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
  signing_secret_ciphertext  TEXT NOT NULL,
  bot_token_ciphertext       TEXT NOT NULL,
  api_base_url               TEXT NOT NULL,
  channel                    TEXT,
  updated_by                 TEXT NOT NULL,
  updated_at                 INTEGER NOT NULL
);

-- A Slack user linked to a Clodo member of the team: commands and buttons act as that member,
-- with the member's role. One Slack user links to one member per team.
CREATE TABLE slack_links (
  team_id        TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  slack_user_id  TEXT NOT NULL,
  member_id      TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
  linked_at      INTEGER NOT NULL,
  PRIMARY KEY (team_id, slack_user_id)
);

-- One-time link codes (`clodo slack link`): stored as a SHA-256 hash, valid ten minutes,
-- consumed by the first `/clodo link CODE` that names them.
CREATE TABLE slack_link_codes (
  code_hash   TEXT PRIMARY KEY,
  team_id     TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  member_id   TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
  expires_at  INTEGER NOT NULL,
  used_at     INTEGER
);

-- Signed requests already handled (the `X-Slack-Request-Timestamp` + signature pair): a replay
-- inside the five-minute window is answered without acting twice. Rows older than the window
-- are useless and deleted as new ones arrive.
CREATE TABLE slack_requests (
  signature    TEXT PRIMARY KEY,
  team_id      TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  received_at  INTEGER NOT NULL
);

-- Approval messages posted with buttons: where (channel, ts), so the message is updated when
-- someone acts, from Slack or elsewhere.
CREATE TABLE slack_messages (
  deployment_id  TEXT PRIMARY KEY REFERENCES deployments(id) ON DELETE CASCADE,
  team_id        TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  channel        TEXT NOT NULL,
  ts             TEXT NOT NULL,
  acted          TEXT,
  posted_at      INTEGER NOT NULL
);

-- A deployment that starts awaiting approval queues its Slack approval request (kind `slack`)
-- in the statement that records the event, when the team's app has a channel; the key makes
-- it one message per deployment.
CREATE TRIGGER deployment_events_slack_approval AFTER INSERT ON deployment_events
WHEN NEW.to_status = 'awaiting_approval'
BEGIN
  INSERT OR IGNORE INTO outbox (id, team_id, kind, target, event_type, payload, next_attempt_at, created_at)
  SELECT 'slk_apr_' || d.id, d.team_id, 'slack', NULL, 'deployment.awaiting_approval',
    json_object('job', 'approval_request', 'deployment_id', d.id), NEW.at, NEW.at
  FROM deployments d JOIN slack_apps s ON s.team_id = d.team_id
  WHERE d.id = NEW.deployment_id AND s.channel IS NOT NULL;
END;
