-- GitHub, the rest of issues 14 and 15.
--
-- The pull request comment is re-rendered when a preview of its head branch is recorded
-- (`clodo deploy --preview`), not only when a delivery assesses a commit: it keeps the head
-- branch and the assessment part it last showed, and the previews part is read from the
-- `previews` table each time.
ALTER TABLE github_pr_comments ADD COLUMN head_branch TEXT;
ALTER TABLE github_pr_comments ADD COLUMN assessment_body TEXT;
CREATE INDEX github_pr_comments_by_branch ON github_pr_comments (project_id, head_branch);

-- GitHub App authentication, besides the plain token: the App id, its installation, the App's
-- private key (PEM, AES-256-GCM under CLODO_ENCRYPTION_KEY with the team id as associated
-- data, like the token; `token_ciphertext` is '' then), and the installation token last
-- minted with it (encrypted the same way) with its expiry (Unix ms), reused until five
-- minutes before it.
ALTER TABLE github_integrations ADD COLUMN app_id INTEGER;
ALTER TABLE github_integrations ADD COLUMN installation_id INTEGER;
ALTER TABLE github_integrations ADD COLUMN app_key_ciphertext TEXT;
ALTER TABLE github_integrations ADD COLUMN installation_token_ciphertext TEXT;
ALTER TABLE github_integrations ADD COLUMN installation_token_expires_at INTEGER;

-- Deploy-on-push (docs/github.md): rules `[{branch, environment, workflow}]` (JSON); a push
-- to a matching branch whose assessment is ready dispatches `workflow` with the environment
-- as its input. Each dispatch is claimed here before it is sent ('dispatching', then
-- 'dispatched'), per delivery and environment: an outbox retry of the delivery, or GitHub
-- redelivering it, never dispatches twice.
ALTER TABLE github_integrations ADD COLUMN deploy_on_push TEXT NOT NULL DEFAULT '[]';
CREATE TABLE github_dispatches (
  project_id     TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  delivery_id    TEXT NOT NULL,
  environment    TEXT NOT NULL,
  workflow       TEXT NOT NULL,
  sha            TEXT NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('dispatching', 'dispatched')),
  created_at     INTEGER NOT NULL,
  dispatched_at  INTEGER,
  PRIMARY KEY (project_id, delivery_id, environment)
);
