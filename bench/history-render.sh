#!/usr/bin/env bash
# Dashboard history benchmark: 10,000 deployments seeded in local D1, then the time Chromium
# takes to render the history view's first page (25 rows, server-side pagination) against the
# local Worker (workerd + local D1), median of several loads; target under 1 s. Also prints the
# API's time for that page alone. Needs Debian's chromium (CHROMIUM_PATH to override).
# CLODO_BENCH_DEPLOYMENTS sets the count (default 10000).
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
COUNT="${CLODO_BENCH_DEPLOYMENTS:-10000}"

# shellcheck source=bench/local_worker.sh
. bench/local_worker.sh
STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/clodo-bench-history.XXXXXX")
WORKER_PGID=""
DASHBOARD_PGID=""
teardown() {
  local status=$?
  stop_groups "$WORKER_PGID" "$DASHBOARD_PGID"
  [ "$status" -ne 0 ] && tail -n 30 "$STATE_DIR/worker.log" >&2
  rm -rf "$STATE_DIR"
  exit "$status"
}
trap teardown EXIT INT TERM

npm --prefix frontend run --silent build >/dev/null
DASHBOARD_PORT=$(free_port)
setsid node frontend/serve.mjs "$DASHBOARD_PORT" >"$STATE_DIR/dashboard.log" 2>&1 </dev/null &
DASHBOARD_PGID=$!
export CLODO_DASHBOARD_URL="http://127.0.0.1:$DASHBOARD_PORT"
start_local_worker /healthz --var "CLODO_BOOTSTRAP_TOKEN:clodo-dev-bootstrap" \
  --var "DASHBOARD_ORIGINS:$CLODO_DASHBOARD_URL"
export CLODO_BENCH_URL="$LOCAL_WORKER_URL"

# A team, its project and environment through the API; the deployments straight into D1.
team=$(curl -sf -X POST "$CLODO_BENCH_URL/api/v1/teams" -H 'authorization: Bearer clodo-dev-bootstrap' \
  -H 'content-type: application/json' -d '{"slug":"bench","name":"Bench","admin_email":"admin@bench.test"}')
export CLODO_BENCH_TOKEN=$(node -e 'console.log(JSON.parse(process.argv[1]).token.secret)' "$team")
auth=(-H "authorization: Bearer $CLODO_BENCH_TOKEN" -H 'content-type: application/json')
curl -sf -X POST "$CLODO_BENCH_URL/api/v1/projects" "${auth[@]}" -d '{"slug":"shop"}' >/dev/null
curl -sf -X POST "$CLODO_BENCH_URL/api/v1/projects/shop/environments" "${auth[@]}" -d '{"name":"production"}' >/dev/null
seed_deployments "$COUNT" 30
echo "bench: $COUNT deployments seeded in local D1" >&2
node bench/history-render.mjs
