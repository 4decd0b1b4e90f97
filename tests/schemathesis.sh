#!/usr/bin/env bash
# Contract test: runs schemathesis (pinned, from PyPI, in target/schemathesis-venv) against the
# running Worker's own /api/v1/openapi.json. It seeds a fresh team with real ids (a project,
# environment bound to the sandbox account with its registered Worker, credential, member,
# token, deployment awaiting approval, assessment, and a deployment with a recorded upload and
# a running rollout)
# and fixes every path parameter to one of them, so each operation is reached past its 404.
#
# Fails on any server error, response that does not match the document (status, content type,
# body schema), or schema-valid request the server refuses (400/413/415/422; refusals that
# depend on state, 401/403/404/409, are expected). Prints the counts.
#
# Called by tests/e2e.sh after the e2e tests (CLODO_E2E_URL set); standalone:
#   CLODO_E2E_URL=http://127.0.0.1:8787 bash tests/schemathesis.sh
# Knobs: CLODO_SCHEMATHESIS_EXAMPLES (per operation and phase, default 12),
#        CLODO_SCHEMATHESIS_TIMEOUT (seconds for the whole run, default 600),
#        CLODO_SCHEMATHESIS_HAR (a file: every request and answer of the run, as HAR).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV="${CARGO_TARGET_DIR:-target}/schemathesis-venv"
URL="${CLODO_E2E_URL:?CLODO_E2E_URL is not set: run through tests/e2e.sh or point it at a Worker}"
BOOTSTRAP="${CLODO_E2E_BOOTSTRAP_TOKEN:-clodo-dev-bootstrap}"
EXAMPLES="${CLODO_SCHEMATHESIS_EXAMPLES:-12}"
RUN_TIMEOUT="${CLODO_SCHEMATHESIS_TIMEOUT:-600}"

say() { printf 'schemathesis: %s\n' "$*" >&2; }

if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null | awk '{ print $NF }')" != "$SCHEMATHESIS_VERSION" ]; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
PY="$VENV/bin/python"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/clodo-schemathesis.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- Seed a team with one of everything, through the API itself. -----------------------------
say "seeding a team on $URL"
"$PY" - "$URL" "$BOOTSTRAP" "$WORK/ids.env" <<'PYTHON'
import json, sys, time, urllib.request, urllib.error

base, bootstrap, out = sys.argv[1], sys.argv[2], sys.argv[3]

def call(method, path, token, body=None, want=(200, 201)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("authorization", "Bearer " + token)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    if status not in want:
        sys.exit(f"seeding: {method} {path} answered {status}: {text}")
    return json.loads(text) if text else None

slug = "fuzz-%x" % int(time.time() * 1000)
team = call("POST", "/api/v1/teams", bootstrap,
            {"slug": slug, "name": "Contract test", "admin_email": f"admin@{slug}.test"})
admin = team["token"]["secret"]
call("POST", "/api/v1/projects", admin, {"slug": "shop", "repository": "https://example.test/shop"})
call("POST", "/api/v1/projects/shop/services", admin, {"name": "api"})
call("POST", "/api/v1/projects/shop/environments", admin, {"name": "production", "cloudflare_account_id": "acc_test"})
call("PUT", "/api/v1/projects/shop/environments/production/policy", admin, {"required_approvals": 1})
# The environments are bound to the sandbox's account, and the team has its credential, so
# hosted assessments and rollouts reach the (sandbox) API. The service is the sandbox's
# seeded Worker in each environment.
call("POST", "/api/v1/credentials", admin, {"account_id": "acc_test", "name": "sandbox", "api_token": "user-edit-token"})
call("PUT", "/api/v1/projects/shop/environments/production/services/api", admin, {"script": "seeded-api"})
# Separate victims for the DELETE operations, so fuzzing them never removes what others use.
doomed_credential = call("POST", "/api/v1/credentials", admin, {"account_id": "acc_doomed", "name": "to delete", "api_token": "x"})
doomed_member = call("POST", "/api/v1/members", admin, {"email": f"leaver@{slug}.test", "role": "viewer"})
doomed_token = call("POST", "/api/v1/tokens", admin, {"name": "to revoke", "role": "viewer"})
# The deployment is requested by another member, so the admin token may approve it.
call("POST", "/api/v1/members", admin, {"email": f"dev@{slug}.test", "role": "deployer"})
dev = call("POST", "/api/v1/tokens", admin, {"name": "dev", "role": "deployer", "member_email": f"dev@{slug}.test"})
# A notification channel before the deployments, so their events queue deliveries (to a port
# nothing listens on: they stay pending) and the delivery routes have something to show.
channel = call("POST", "/api/v1/channels", admin, {"project": "shop", "name": "fuzz", "kind": "webhook",
                                                   "url": "http://127.0.0.1:9/hook", "events": ["deployment.created"]})
deployment = call("POST", "/api/v1/deployments", dev["secret"],
                  {"project": "shop", "environment": "production", "git_ref": "main", "strategy": "gradual"})
call("POST", "/api/v1/deployments", dev["secret"], {"project": "shop", "environment": "production", "git_ref": "main"})
assessment = call("POST", "/api/v1/assessments", admin,
                  {"config": 'name = "seeded-api"\nmain = "src/index.js"\ncompatibility_date = "2025-09-01"\n',
                   "project": "shop", "environment": "production"})
# Cursors the API issued (a forged one is a 400 by design), so paging is fuzzed too.
deployments_cursor = call("GET", "/api/v1/deployments?limit=1", admin)["next_cursor"]
audit_cursor = call("GET", "/api/v1/audit?limit=1", admin)["next_cursor"]
deliveries = call("GET", "/api/v1/deliveries?limit=1", admin)
# A deployment with a rollout, so the rollout routes get past their 404: a second
# environment (bound to the sandbox account, no approvals) with the service registered, the
# lock, deploying, the upload recorded (a version the sandbox has for that Worker), verifying,
# then the start. Gradual with a long hold, so the rollout is still running when fuzzed.
call("POST", "/api/v1/projects/shop/environments", admin, {"name": "staging"})
call("PATCH", "/api/v1/projects/shop/environments/staging", admin, {"cloudflare_account_id": "acc_test"})
call("PUT", "/api/v1/projects/shop/environments/staging/services/api", admin, {"script": "seeded-api"})
staged = call("POST", "/api/v1/deployments", dev["secret"], {"project": "shop", "environment": "staging", "strategy": "gradual"})
call("POST", "/api/v1/projects/shop/environments/staging/lock/acquire", dev["secret"], {"holder_id": staged["id"]})
call("POST", f"/api/v1/deployments/{staged['id']}/transitions", dev["secret"], {"to": "deploying"})
call("POST", f"/api/v1/deployments/{staged['id']}/services", dev["secret"], {"services": [{
    "service": "api",
    "version_id": "aaaaaaaa-0000-4000-8000-000000000002",
    "previous_version_id": "aaaaaaaa-0000-4000-8000-000000000001",
}]})
call("POST", f"/api/v1/deployments/{staged['id']}/transitions", dev["secret"], {"to": "verifying"})
call("POST", f"/api/v1/deployments/{staged['id']}/rollout", dev["secret"], {"steps": [10, 100], "step_wait_secs": 3600, "progress_deadline_secs": 7200})
rollout_deployment = staged["id"]
with open(out, "w") as f:
    for key, value in {
        "ADMIN_TOKEN": admin,
        "DEPLOYMENT_ID": deployment["id"],
        "CREDENTIAL_ID": doomed_credential["id"],
        "MEMBER_ID": doomed_member["id"],
        "TOKEN_ID": doomed_token["id"],
        "ASSESSMENT_ID": assessment["id"],
        "ROLLOUT_DEPLOYMENT_ID": rollout_deployment,
        "DEPLOYMENTS_CURSOR": deployments_cursor,
        "AUDIT_CURSOR": audit_cursor,
        "CHANNEL_ID": channel["channel"]["id"],
        "DELIVERY_ID": deliveries["items"][0]["id"],
        "DELIVERIES_CURSOR": deliveries["next_cursor"],
    }.items():
        f.write(f"export CLODO_FUZZ_{key}='{value}'\n")
PYTHON
# shellcheck disable=SC1091
source "$WORK/ids.env"

# --- The run. ---------------------------------------------------------------------------------
# One filter per [[operations]] entry: several in one entry select the union.
# Path parameters are fixed to the seeded ids (and a deployment request's project and
# environment to the seeded ones); bodies, queries and headers are generated.
# The WebSocket route is left out: it upgrades the connection, which an HTTP fuzzer cannot
# follow (tests/e2e_rollout.rs covers it). Operations whose bodies have rules between fields
# that no JSON Schema can state (x-clodo-cross-field-rules in the document: the policy and
# the rollout start, the upload record, a deployment's scheduled_for and git_committed_at
# relative to now, a schedule's cron expression, a rollout command's `version` that only
# `promote` takes, the fields each notification channel kind takes, a preview's Pages
# deployment that Cloudflare must know) skip
# only the positive-data check: a generated window may end before it starts.
cat >"$WORK/schemathesis.toml" <<TOML
base-url = "$URL"
request-timeout = 30
workers = 2
continue-on-failure = true

[generation]
max-examples = $EXAMPLES
deterministic = true

[phases.stateful]
enabled = false

# Values are not carried from one operation's answers into another's parameters: the ids
# are fixed above, and a cursor of one list is (rightly) a 400 on another list.
[phases.coverage.extra-data-sources]
responses = false

[phases.fuzzing.extra-data-sources]
responses = false

# Methods an operation does not have are tried with its body; not GET (and so not HEAD):
# wrangler dev's proxy cannot forward a GET with a body and holds it until the next reload,
# so it never reaches the Worker (a timeout here, not a Worker's answer).
[phases.coverage]
unexpected-methods = ["DELETE", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"]

[checks]
enabled = false
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_schema_conformance.enabled = true
positive_data_acceptance.enabled = true

[auth.openapi.bearer]
bearer = "\${CLODO_FUZZ_ADMIN_TOKEN}"

[auth.openapi.bootstrap]
bearer = "$BOOTSTRAP"

[parameters]
"path.project" = "shop"
"path.environment" = "production"
"path.deployment_id" = "\${CLODO_FUZZ_DEPLOYMENT_ID}"
"path.token_id" = "\${CLODO_FUZZ_TOKEN_ID}"
"path.member_id" = "\${CLODO_FUZZ_MEMBER_ID}"
"path.credential_id" = "\${CLODO_FUZZ_CREDENTIAL_ID}"
"path.assessment_id" = "\${CLODO_FUZZ_ASSESSMENT_ID}"
"path.channel_id" = "\${CLODO_FUZZ_CHANNEL_ID}"
"path.delivery_id" = "\${CLODO_FUZZ_DELIVERY_ID}"
"path.service" = "api"
# Lock operations name one holder, so heartbeat, release and cancel can find what acquire made.
"body.holder_id" = "fuzz-holder"
# A deployment request names the seeded project and environment, so it gets past the 404.
"body.project" = "shop"
"body.environment" = "production"

[[operations]]
include-path-regex = "/rollout/live$"
enabled = false

[[operations]]
include-path-regex = "/rollout"
parameters = { "path.deployment_id" = "\${CLODO_FUZZ_ROLLOUT_DEPLOYMENT_ID}" }

# What a deployment recorded: the rollout's deployment has an upload (a record is refused
# there with 409: it is verifying, no longer deploying).
[[operations]]
include-path-regex = "^/api/v1/deployments/[{]deployment_id[}]/services$"
parameters = { "path.deployment_id" = "\${CLODO_FUZZ_ROLLOUT_DEPLOYMENT_ID}" }

[[operations]]
include-name = "GET /api/v1/deployments"
parameters = { "query.cursor" = "\${CLODO_FUZZ_DEPLOYMENTS_CURSOR}" }

[[operations]]
include-name = "GET /api/v1/audit"
parameters = { "query.cursor" = "\${CLODO_FUZZ_AUDIT_CURSOR}" }

[[operations]]
include-name = "GET /api/v1/deliveries"
parameters = { "query.cursor" = "\${CLODO_FUZZ_DELIVERIES_CURSOR}" }
TOML
# Operations whose valid-looking bodies may still be refused by the server's own records (a
# policy an environment cannot take, a rollout or upload in the wrong phase, a project the
# body names that is not the team's) or by rules a JSON Schema does not express (an Access
# team domain must be https, or http on loopback only; a GitHub integration takes exactly one
# of `api_token` and `app`; a summary's week must exist in the calendar and have begun, and
# the project needs a channel receiving summary.weekly): "positive data accepted" cannot hold
# for them.
for operation in \
    "PUT /api/v1/projects/{project}/environments/{environment}/policy" \
    "POST /api/v1/deployments/{deployment_id}/rollout" \
    "POST /api/v1/deployments/{deployment_id}/services" \
    "POST /api/v1/deployments" \
    "POST /api/v1/projects/{project}/environments/{environment}/schedules" \
    "POST /api/v1/deployments/{deployment_id}/rollout/{command}" \
    "POST /api/v1/projects/{project}/environments/{environment}/previews" \
    "POST /api/v1/channels" \
    "PUT /api/v1/access" \
    "PUT /api/v1/projects/{project}/github" \
    "POST /api/v1/projects/{project}/summary" \
    ; do
    printf '\n[[operations]]\ninclude-name = "%s"\nchecks.positive_data_acceptance.enabled = false\n' \
        "$operation"
done >>"$WORK/schemathesis.toml"

# Generated Idempotency-Key values repeat across operations (the run is deterministic), so
# most POSTs were answered "this key was already used for another request" (409) and never
# reached their handler. A valid generated key is made unique per request (same length range,
# same characters); an invalid one is sent as generated, so the 400 for it is still tested.
cat >"$WORK/hooks.py" <<'PYTHON'
import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"[!-~]{1,200}")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and isinstance(headers[name], str):
            key = headers[name]
            if VALID_KEY.fullmatch(key):
                headers[name] = (uuid.uuid4().hex + key)[: max(len(key), 32)][:200]
PYTHON

say "running schemathesis $SCHEMATHESIS_VERSION (at most $EXAMPLES examples per operation and phase)"
status=0
SCHEMATHESIS_HOOKS="$WORK/hooks.py" timeout --kill-after=10 "$RUN_TIMEOUT" \
  "$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" run "$URL/api/v1/openapi.json" \
  --report "junit${CLODO_SCHEMATHESIS_HAR:+,har}" --report-junit-path "$WORK/junit.xml" \
  ${CLODO_SCHEMATHESIS_HAR:+--report-har-path "$CLODO_SCHEMATHESIS_HAR"} --no-color \
  >"$WORK/run.log" 2>&1 || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  tail -n 60 "$WORK/run.log" >&2
  say "FAILED: the run did not finish within $RUN_TIMEOUT s"
  exit 1
fi

# The counts, from the run's JUnit report: one test case per operation.
"$PY" - "$WORK/junit.xml" "$WORK/run.log" "$status" <<'PYTHON'
import re, sys, xml.etree.ElementTree as ET

junit, log, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(log).read()
try:
    cases = ET.parse(junit).getroot().iter("testcase")
    cases = list(cases)
except (OSError, ET.ParseError):
    cases = []
failed = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None]
requests = re.search(r"Test cases:\s*\n?\s*(\d+)\s+generated", text)
requests = re.search(r"(\d+)\s+generated", text) if requests is None else requests
print(text[-6000:])
print(f"schemathesis: {len(cases)} operations, {requests.group(1) if requests else '?'} requests, "
      f"{len(failed)} operations with failures")
for name in failed:
    print(f"schemathesis: FAILED {name}")
sys.exit(1 if status != 0 or failed or not cases else 0)
PYTHON
