-- Pages and D1 as parts of a deployment (issue 14): the D1 migrations a deployment applied,
-- each with the Time Travel bookmark taken before them (what `clodo rollback` prints as the
-- restore point), and the Pages deployments it made (what a rollback returns to). Written by
-- `clodo deploy` while the deployment holds its environment's lock. Times are Unix ms.

CREATE TABLE deployment_migrations (
  deployment_id  TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  team_id        TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  service        TEXT NOT NULL,
  database_id    TEXT NOT NULL,
  database_name  TEXT NOT NULL,
  -- The first record's bookmark stays: it is the point from before anything ran.
  bookmark       TEXT NOT NULL,
  migrations     TEXT NOT NULL,
  destructive    INTEGER NOT NULL DEFAULT 0,
  state          TEXT NOT NULL CHECK (state IN ('bookmarked', 'applied', 'failed')),
  detail         TEXT,
  recorded_by    TEXT NOT NULL,
  recorded_at    INTEGER NOT NULL,
  PRIMARY KEY (deployment_id, database_id)
);

CREATE TABLE deployment_pages (
  deployment_id           TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  team_id                 TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  service                 TEXT NOT NULL,
  project                 TEXT NOT NULL,
  pages_deployment_id     TEXT NOT NULL,
  previous_deployment_id  TEXT,
  url                     TEXT NOT NULL,
  branch                  TEXT NOT NULL,
  preview                 INTEGER NOT NULL DEFAULT 0,
  recorded_by             TEXT NOT NULL,
  recorded_at             INTEGER NOT NULL,
  PRIMARY KEY (deployment_id, service)
);
