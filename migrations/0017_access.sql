-- Cloudflare Access sign-in (issue 16): the team's Access application. A request carrying a
-- `Cf-Access-Jwt-Assertion` is checked against the application whose audience tag the token
-- names (so each tag belongs to one team), with the keys published at
-- `<team_domain>/cdn-cgi/access/certs`; its email must be a member of that team.
CREATE TABLE access_apps (
  team_id      TEXT PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
  team_domain  TEXT NOT NULL,
  audience     TEXT NOT NULL UNIQUE,
  updated_by   TEXT NOT NULL,
  updated_at   INTEGER NOT NULL
);
