-- DORA metrics (issue 18): every column `GET /api/v1/metrics/dora` reads, in one index by
-- environment and time, so a year of a busy environment is read from the index alone. With
-- only `deployments_env_time` each of those rows was a lookup into the table, whose rows
-- (messages, commit ids) spread an environment's year over nearly every page of it: 10,000
-- rows of 100,000 took 50-70 ms in local D1 (bench/queries.sh). `id` after the time makes the
-- order total (the query pages by it) and serves the per-service filter's join.
CREATE INDEX deployments_env_facts ON deployments(environment_id, created_at, id, team_id, status,
  started_at, finished_at, git_committed_at, override_reason);
