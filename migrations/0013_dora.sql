-- DORA metrics (issue 16): when the shipped commit was made, for change lead time. `clodo
-- deploy` sends it from git (`git_committed_at` of POST /api/v1/deployments); null for
-- deployments made before this migration or without git.
ALTER TABLE deployments ADD COLUMN git_committed_at INTEGER;
