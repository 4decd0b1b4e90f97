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

STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/clodo-bench-history.XXXXXX")
WORKER_PGID=""
DASHBOARD_PGID=""
teardown() {
  local status=$?
  for pgid in "$WORKER_PGID" "$DASHBOARD_PGID"; do
    [ -n "$pgid" ] || continue
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  done
  [ "$status" -ne 0 ] && tail -n 30 "$STATE_DIR/worker.log" >&2
  rm -rf "$STATE_DIR"
  exit "$status"
}
trap teardown EXIT INT TERM

# shellcheck source=bench/local_worker.sh
. bench/local_worker.sh
npm --prefix frontend run --silent build >/dev/null
DASHBOARD_PORT=$(free_port)
setsid node frontend/serve.mjs "$DASHBOARD_PORT" >"$STATE_DIR/dashboard.log" 2>&1 </dev/null &
DASHBOARD_PGID=$!
export CLODO_DASHBOARD_URL="http://127.0.0.1:$DASHBOARD_PORT"
start_local_worker /healthz --var "CLODO_BOOTSTRAP_TOKEN:clodo-dev-bootstrap" \
  --var "DASHBOARD_ORIGINS:$CLODO_DASHBOARD_URL"
export CLODO_BENCH_URL="$LOCAL_WORKER_URL"

# A team, its project and environment through the API; the deployments straight into D1 (one
# statement: creating 10,000 through the API would measure the API, not the dashboard).
team=$(curl -sf -X POST "$CLODO_BENCH_URL/api/v1/teams" -H 'authorization: Bearer clodo-dev-bootstrap' \
  -H 'content-type: application/json' -d '{"slug":"bench","name":"Bench","admin_email":"admin@bench.test"}')
export CLODO_BENCH_TOKEN=$(node -e 'console.log(JSON.parse(process.argv[1]).token.secret)' "$team")
auth=(-H "authorization: Bearer $CLODO_BENCH_TOKEN" -H 'content-type: application/json')
curl -sf -X POST "$CLODO_BENCH_URL/api/v1/projects" "${auth[@]}" -d '{"slug":"shop"}' >/dev/null
curl -sf -X POST "$CLODO_BENCH_URL/api/v1/projects/shop/environments" "${auth[@]}" -d '{"name":"production"}' >/dev/null
cat >"$STATE_DIR/seed.sql" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $COUNT)
INSERT INTO deployments (id, team_id, project_id, environment_id, status, strategy, requested_by,
                         git_ref, git_sha, message, created_at, started_at, finished_at)
SELECT 'dep_bench_' || printf('%05d', i), e.team_id, e.project_id, e.id,
       CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 'gradual', 'member:admin@bench.test',
       'main', printf('%040x', i), 'bench deployment ' || i,
       1700000000000 + i * 60000, 1700000000000 + i * 60000 + 1000, 1700000000000 + i * 60000 + 90000
  FROM n, (SELECT env.id, env.project_id, p.team_id FROM environments env JOIN projects p ON p.id = env.project_id
            WHERE p.slug = 'shop' AND p.team_id = (SELECT id FROM teams WHERE slug = 'bench')) e;
SQL
npx wrangler d1 execute DB --local --persist-to "$STATE_DIR/state" --file "$STATE_DIR/seed.sql" >"$STATE_DIR/seed.log" 2>&1 ||
  { cat "$STATE_DIR/seed.log" >&2; exit 1; }
echo "bench: $COUNT deployments seeded in local D1" >&2
node bench/history-render.mjs
