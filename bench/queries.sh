#!/usr/bin/env bash
# History and DORA queries over many deployments: seeds CLODO_BENCH_DEPLOYMENTS (default
# 100,000) deployments into the local Worker's D1 (workerd + local D1 under `wrangler dev`),
# round robin over CLODO_BENCH_ENVS environments (default 10) of one project, created over the
# last 365 days; then times, through the public API, the pages that read them:
#
#   history first page   GET /api/v1/deployments?limit=25           (the dashboard's history)
#   history filtered     …&environment=env-00&status=failed          (its filters; the
#                        seed puts every failed deployment in env-00)
#   history deep page    …&cursor=<after the 90,000th newest>        (keyset pagination, far in)
#   DORA 30 days         GET /api/v1/metrics/dora?project=shop&environment=env-03
#   DORA 365 days        …&days=365                                  (the longest window)
#
# Each: one warm-up, then CLODO_BENCH_SAMPLES requests (default 11) one after another; prints
# the median and the slowest. And the query plan of the SQL behind it: the statement read from
# the Worker's source (bench/worker_sql.py) with this request's values, through `EXPLAIN QUERY
# PLAN` in the same local D1. A plan that SCANs `deployments` (reads the table or an index
# from end to end) is reported as such and makes the script exit 1 after printing everything.
# Target (issue 18): under 50 ms each. Not a test: it prints figures.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
COUNT="${CLODO_BENCH_DEPLOYMENTS:-100000}"
ENVS="${CLODO_BENCH_ENVS:-10}"
SAMPLES="${CLODO_BENCH_SAMPLES:-11}"

# shellcheck source=bench/local_worker.sh
. bench/local_worker.sh
STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/clodo-bench-queries.XXXXXX")
WORKER_PGID=""
teardown() {
  local status=$?
  stop_groups "$WORKER_PGID"
  [ "$status" -ne 0 ] && [ "$status" -ne 3 ] && tail -n 30 "$STATE_DIR/worker.log" >&2
  rm -rf "$STATE_DIR"
  exit "$status"
}
trap teardown EXIT INT TERM

start_local_worker /healthz --var "CLODO_BOOTSTRAP_TOKEN:clodo-dev-bootstrap"
BASE="$LOCAL_WORKER_URL"

team=$(curl -sf -X POST "$BASE/api/v1/teams" -H 'authorization: Bearer clodo-dev-bootstrap' \
  -H 'content-type: application/json' -d '{"slug":"bench","name":"Bench","admin_email":"admin@bench.test"}')
TOKEN=$(jq -r .token.secret <<<"$team")
auth=(-H "authorization: Bearer $TOKEN" -H 'content-type: application/json')
curl -sf -X POST "$BASE/api/v1/projects" "${auth[@]}" -d '{"slug":"shop"}' >/dev/null
for e in $(seq 0 $((ENVS - 1))); do
  curl -sf -X POST "$BASE/api/v1/projects/shop/environments" "${auth[@]}" \
    -d "{\"name\":\"$(printf 'env-%02d' "$e")\"}" >/dev/null
done
seed_deployments "$COUNT" 365

d1() { # SQL → the rows of its result as JSON
  npx wrangler d1 execute DB --local --persist-to "$STATE_DIR/state" --json --command "$1" 2>"$STATE_DIR/d1.err" |
    jq -c '.[0].results' || { cat "$STATE_DIR/d1.err" >&2; exit 1; }
}
ids=$(d1 "SELECT t.id AS team, e.id AS env, (SELECT COUNT(*) FROM deployments) AS n
            FROM teams t JOIN projects p ON p.team_id = t.id JOIN environments e ON e.project_id = p.id
           WHERE t.slug = 'bench' AND e.name = 'env-03'")
TEAM_ID=$(jq -r '.[0].team' <<<"$ids") ENV_ID=$(jq -r '.[0].env' <<<"$ids")
seeded=$(jq -r '.[0].n' <<<"$ids")
[ "$seeded" -eq "$COUNT" ] || { echo "queries: $seeded deployments in D1, expected $COUNT" >&2; exit 1; }
deep_n=$((COUNT * 9 / 10))
deep=$(d1 "SELECT created_at AS at, id FROM deployments WHERE id = 'dep_bench_$(printf '%06d' "$deep_n")'")
DEEP_AT=$(jq -r '.[0].at' <<<"$deep") DEEP_ID=$(jq -r '.[0].id' <<<"$deep")
DEEP_CURSOR=$(jq -cj '.[0]' <<<"$deep" | base64 -w0 | tr '+/' '-_' | tr -d '=')
NOW=$(date +%s%3N)
echo "queries: $COUNT deployments in local D1 (one team, one project, $ENVS environments, the last 365 days); $SAMPLES requests each after a warm-up"

# The same windows as the Worker: now − days − 7 days (src/worker/metrics.rs).
dora_from() { echo $((NOW - ($1 + 7) * 86400000)); }
# name; API path; jq check of the answer; worker_sql.py query and values
QUERIES=(
  "history first page;/api/v1/deployments?limit=25;.items | length == 25;history $TEAM_ID NULL NULL NULL NULL NULL 26"
  "history filtered;/api/v1/deployments?limit=25&environment=env-00&status=failed;.items | length == 25;history $TEAM_ID NULL env-00 failed NULL NULL 26"
  "history deep page;/api/v1/deployments?limit=25&cursor=$DEEP_CURSOR;.items[0].id == \"dep_bench_$(printf '%06d' $((deep_n + 1)))\";history $TEAM_ID NULL NULL NULL $DEEP_AT $DEEP_ID 26"
  "DORA 30 days;/api/v1/metrics/dora?project=shop&environment=env-03;.deployments > 0;dora $TEAM_ID $ENV_ID $(dora_from 30) NULL 0 20000"
  "DORA 365 days;/api/v1/metrics/dora?project=shop&environment=env-03&days=365;.deployments == $((COUNT / ENVS));dora $TEAM_ID $ENV_ID $(dora_from 365) NULL 0 20000"
)

scans=0
for q in "${QUERIES[@]}"; do
  IFS=';' read -r name path check sql_args <<<"$q"
  # shellcheck disable=SC2086 # sql_args is a word list on purpose
  sql=$(python3 bench/worker_sql.py $sql_args)
  plan=$(d1 "EXPLAIN QUERY PLAN $sql" | jq -r '.[] | .detail')
  if grep -Eq '^SCAN (d|deployments)\b' <<<"$plan"; then
    verdict="FULL SCAN of deployments"
    scans=$((scans + 1))
  else
    verdict="indexes only"
  fi
  echo "plan $name: $(paste -sd ';' <<<"$plan" | sed 's/;/; /g')"
  times=()
  for i in $(seq 0 "$SAMPLES"); do
    out=$(curl -s -o "$STATE_DIR/answer" -w '%{http_code} %{time_total}' "$BASE$path" "${auth[@]}")
    [ "${out%% *}" = 200 ] || { echo "queries: $path answered ${out%% *}: $(head -c 300 "$STATE_DIR/answer")" >&2; exit 1; }
    jq -e "$check" "$STATE_DIR/answer" >/dev/null || { echo "queries: $path: not ($check): $(head -c 300 "$STATE_DIR/answer")" >&2; exit 1; }
    [ "$i" -gt 0 ] && times+=("$(awk -v s="${out#* }" 'BEGIN { printf "%.1f", s * 1000 }')")
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  median=$(awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }' <<<"$sorted")
  echo "query $name (GET ${path%%\?*}): median $median ms, slowest $(tail -n1 <<<"$sorted") ms of $SAMPLES; plan: $verdict"
done
if [ "$scans" -gt 0 ]; then
  echo "queries: $scans plan(s) scan deployments" >&2
  exit 3
fi
