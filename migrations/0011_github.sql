-- The GitHub integration (issue 15): one per project. Webhooks from `repository` are verified
-- with the project's secret; Clodo calls `api_base_url` with the token. Both secrets are
-- AES-256-GCM under CLODO_ENCRYPTION_KEY with the team id as associated data (like
-- cloudflare_credentials); no endpoint returns them. Times are Unix ms.
CREATE TABLE github_integrations (
  project_id         TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
  team_id            TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  -- `owner/name`, lower-cased: what deliveries are matched by (several projects, even of
  -- different teams, may connect one repository; each delivery is verified per secret).
  repository         TEXT NOT NULL,
  api_base_url       TEXT NOT NULL,
  secret_ciphertext  TEXT NOT NULL,
  token_ciphertext   TEXT NOT NULL,
  -- JSON array of branch globs whose pushes are assessed.
  branches           TEXT NOT NULL,
  -- The Clodo environment (name) whose account assessments are checked against.
  environment        TEXT,
  updated_by         TEXT NOT NULL,
  updated_at         INTEGER NOT NULL
);
CREATE INDEX github_integrations_repository ON github_integrations(repository);

-- Every verified delivery, once: `X-GitHub-Delivery` is unchanged on a redelivery, so the
-- primary key makes a redelivery do nothing twice. A delivery with work queues one outbox row
-- (kind `github`, key `gh_<project>_<delivery>`) in the same batch; `state` and `detail` say
-- how its last attempt went (the outbox retries failures with backoff).
CREATE TABLE github_deliveries (
  project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  delivery_id   TEXT NOT NULL,
  event         TEXT NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('queued', 'done', 'ignored', 'failed')),
  detail        TEXT,
  received_at   INTEGER NOT NULL,
  finished_at   INTEGER,
  PRIMARY KEY (project_id, delivery_id)
);

-- Clodo's assessment comment on each pull request, edited in place on the next push.
-- `comment_id` 0 means an attempt is creating it (a claim). `received_at` is when the
-- delivery whose assessment it shows arrived: an older delivery's retry never overwrites a
-- newer one's comment.
CREATE TABLE github_pr_comments (
  project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  pr_number    INTEGER NOT NULL,
  comment_id   INTEGER NOT NULL,
  received_at  INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (project_id, pr_number)
);

-- The assessment each commit got, for deployment reviews ("assessment" policy) and links.
CREATE TABLE github_commit_assessments (
  project_id     TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  sha            TEXT NOT NULL,
  assessment_id  TEXT NOT NULL REFERENCES assessments(id) ON DELETE CASCADE,
  ready          INTEGER NOT NULL,
  created_at     INTEGER NOT NULL,
  PRIMARY KEY (project_id, sha)
);
