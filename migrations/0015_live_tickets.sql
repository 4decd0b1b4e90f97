-- Live-view tickets (issue 16): a browser cannot send Authorization on a WebSocket, so an
-- authenticated POST issues a single-use ticket for one deployment's live view, valid 30 s.
-- Only the SHA-256 of the ticket is stored; `used_at` is set by the one upgrade that claims it.
CREATE TABLE live_tickets (
  ticket_hash TEXT PRIMARY KEY,
  team_id TEXT NOT NULL,
  token_id TEXT NOT NULL,
  actor TEXT NOT NULL,
  deployment_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
);
CREATE INDEX live_tickets_expires_at ON live_tickets (expires_at);
