-- Pages sites rolled back by the control plane, and preview deployments (issue 14).
--
-- A rollout that rolls back puts each Pages site of its deployment back on the production
-- deployment that served before (the Pages rollback API); the deployment's Pages record says
-- when and which Pages deployment serves production since. Times are Unix ms.
ALTER TABLE deployment_pages ADD COLUMN rolled_back_at INTEGER;
-- The Pages deployment the rollback made live (Cloudflare answers the rollback with it).
ALTER TABLE deployment_pages ADD COLUMN rolled_back_as TEXT;

-- Preview deployments (`clodo deploy --preview`): a Pages site deployed to a branch's preview,
-- recorded per environment (no lock, no rollout: nothing serves production from it), so the
-- dashboard, `clodo history --previews` and a PR comment can list the URLs. The Pages
-- deployment is checked with Cloudflare (the environment's account) before it is recorded;
-- recording the same one again changes nothing.
CREATE TABLE previews (
  id                   TEXT PRIMARY KEY,
  team_id              TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  environment_id       TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
  service              TEXT NOT NULL,
  project              TEXT NOT NULL,
  pages_deployment_id  TEXT NOT NULL,
  url                  TEXT NOT NULL,
  branch               TEXT NOT NULL,
  git_sha              TEXT,
  created_by           TEXT NOT NULL,
  created_at           INTEGER NOT NULL,
  UNIQUE (environment_id, project, pages_deployment_id)
);
CREATE INDEX previews_by_environment ON previews (environment_id, created_at);
