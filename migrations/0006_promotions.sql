-- Environment promotion (issue 13): a deployment that ships exactly what another environment
-- verified records the deployment it was promoted from, and, per service, the SHA-256 of each
-- module the CLI read back from both Workers (equal, or the promotion stopped before traffic
-- moved). Times are Unix milliseconds.

-- The verified deployment (in the source environment) this one ships; chosen by the server
-- from its own records, never named by the request.
ALTER TABLE deployments ADD COLUMN promoted_from TEXT REFERENCES deployments(id);
CREATE INDEX deployments_promoted_from ON deployments(promoted_from);

-- `[{"name": "index.js", "sha256": "<64 hex>"}, …]`: the modules of the uploaded version, as
-- compared with the source version's (only promotions record them).
ALTER TABLE deployment_services ADD COLUMN module_hashes TEXT;
