-- Gap analysis results (issue 4): one row per POST /api/v1/assessments. The report is the
-- same JSON `clodo assess --format json` prints, so the API and the CLI agree on one format.
CREATE TABLE assessments (
  id           TEXT PRIMARY KEY,
  team_id      TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  account_id   TEXT,
  env          TEXT,
  config_file  TEXT NOT NULL,
  ready        INTEGER NOT NULL,
  errors       INTEGER NOT NULL,
  warnings     INTEGER NOT NULL,
  report       TEXT NOT NULL,
  created_by   TEXT NOT NULL,
  created_at   INTEGER NOT NULL
);
CREATE INDEX assessments_team ON assessments(team_id, created_at);
