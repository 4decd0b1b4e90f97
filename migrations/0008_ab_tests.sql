-- A/B tests (issue 13). Times are Unix milliseconds.

-- A deployment whose strategy is `ab`. The `strategy` column's CHECK predates A/B tests and
-- SQLite cannot widen a CHECK without rebuilding the table, which on D1 (foreign keys always
-- on) would cascade-delete every row that references a deployment. So an A/B deployment keeps
-- 'gradual' there (its traffic is a two-version split) with this flag set, and the API reads
-- the two back as `ab` (worker/deployment_store.rs).
ALTER TABLE deployments ADD COLUMN ab_test INTEGER NOT NULL DEFAULT 0 CHECK (ab_test IN (0, 1));

-- `clodo promote DEPLOYMENT --version V`: the version of the A/B test to keep, recorded with
-- the command (and its audit entry); the Rollout object applies it with the command.
ALTER TABLE rollout_commands ADD COLUMN version TEXT
  CHECK (version IS NULL OR (command = 'promote' AND length(version) BETWEEN 1 AND 64));

-- The A/B test's results (per version per metric values, winner, reason, version kept) as
-- JSON, written when the test ends; the deployment's end event carries them too.
ALTER TABLE rollouts ADD COLUMN ab_result TEXT;
