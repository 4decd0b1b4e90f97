#!/usr/bin/env bash
# Benchmark: `clodo deploy --strategy immediate` against plain `wrangler deploy` on the example
# project (examples/shop: three Workers), both against the sandbox Cloudflare API on this
# machine, in alternating runs. Prints each run, the medians, Clodo's overhead in ms and as a
# ratio, and the overhead beyond the assessment's own API calls (target: under 300 ms).
#
# What is compared: a re-deploy of three existing Workers.
#   wrangler: `wrangler deploy --env staging` in each service directory, one after the other
#             (what a deploy script does).
#   clodo:    `clodo deploy --env staging --strategy immediate --yes`: assess (account
#             inventory), record the deployment, take the environment lock, `wrangler versions
#             upload` per service in dependency waves (api and jobs together, then web), one
#             deployments API call per Worker, snapshots, release. Needs the control plane:
#             a local Worker (workerd, local D1 + Durable Objects) with fresh state.
# Each side deploys its own copy of the example (its own Worker names), deployed once before
# measuring so both measure re-deploys. Because Clodo runs the services of a wave side by side,
# it can finish before the sequential script; so its own overhead is also measured directly:
# its wall time minus the time its wrangler processes were running (timed by a wrapper, the
# union of their intervals) minus the assessment, which is timed alone (`clodo assess
# --project`) in the same rounds.
# RUNS (default 5) rounds, twice: with the control plane under `wrangler dev` (what `make dev`
# runs), then the same build on workerd direct (bench/workerd_direct.mjs: without wrangler
# dev's proxy and inspector, which cost each control-plane request more than the Worker does;
# docs/performance.md); lines prefixed "[wrangler dev]" and "[workerd direct]".
# Not a test: it prints figures. CLODO_BENCH_KEEP_LOG=FILE keeps the wrangler dev Worker's log
# (wrangler's line per request, with its time inside the stack).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false CI=true NO_COLOR=1
RUNS=${RUNS:-5}
ROOT=$PWD

cargo build --release --quiet --bin clodo
CLODO="$ROOT/${CARGO_TARGET_DIR:-target}/release/clodo"
WRANGLER="$ROOT/node_modules/.bin/wrangler"

# shellcheck source=bench/local_worker.sh
. bench/local_worker.sh
STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/clodo-bench-deploy.XXXXXX")
WORKER_PGID="" SANDBOX_PGID="" DIRECT_PGID=""
teardown() {
  local status=$?
  for pgid in "$WORKER_PGID" "$DIRECT_PGID" "$SANDBOX_PGID"; do
    [ -n "$pgid" ] && kill -TERM -- "-$pgid" 2>/dev/null || true
  done
  sleep 0.5
  for pgid in "$WORKER_PGID" "$DIRECT_PGID"; do
    [ -n "$pgid" ] && kill -KILL -- "-$pgid" 2>/dev/null || true
  done
  [ "$status" -ne 0 ] && tail -n 30 "$STATE_DIR/worker.log" >&2
  if [ -n "${CLODO_BENCH_KEEP_LOG:-}" ] && [ -f "$STATE_DIR/worker.log" ]; then cp "$STATE_DIR/worker.log" "$CLODO_BENCH_KEEP_LOG"; fi
  rm -rf "$STATE_DIR"
  exit "$status"
}
trap teardown EXIT INT TERM

SANDBOX_PORT=$(free_port)
setsid "$CLODO" sandbox --seed tests/fixtures/sandbox/seed.json --seed examples/shop/sandbox-seed.json \
  --port "$SANDBOX_PORT" >"$STATE_DIR/sandbox.log" 2>&1 </dev/null &
SANDBOX_PGID=$!
export CLOUDFLARE_API_BASE_URL="http://127.0.0.1:$SANDBOX_PORT/client/v4"
export CLOUDFLARE_API_TOKEN=shop-demo-token CLOUDFLARE_ACCOUNT_ID=acc_shop

# The control plane's variables, for either stack.
VARS=("CLODO_BOOTSTRAP_TOKEN=clodo-dev-bootstrap" "CLODO_ENCRYPTION_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
  "CLOUDFLARE_API_BASE_URL=$CLOUDFLARE_API_BASE_URL")

json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s);for(const k of process.argv[1].split("."))v=v[k];console.log(v)})' "$1"; }
post() { curl -sf -X POST "$CLODO_API_URL$1" -H "authorization: Bearer $2" -H 'content-type: application/json' -d "$3"; }

# A copy of the example whose Workers are named <prefix>-api-staging and so on.
copy() {
  local dir="$STATE_DIR/$1"
  mkdir -p "$dir"
  for s in api web jobs; do
    mkdir -p "$dir/$s"
    cp -r examples/shop/$s/. "$dir/$s/"
    rm -rf "$dir/$s/.wrangler"
    sed -i -e "s/\"shop-api/\"$1-api/g" -e "s/\"shop-web/\"$1-web/g" -e "s/\"shop-jobs/\"$1-jobs/g" "$dir/$s/wrangler.toml"
  done
  # The example's services without its checks and secrets: the comparison is about deploying.
  cp tests/fixtures/shop/services.toml "$dir/clodo.toml"
  echo "$dir"
}

now_ms() { date +%s%3N; }
# Times every wrangler process clodo starts: "start end" lines in $WRANGLER_TIMES.
cat >"$STATE_DIR/wrangler-timed" <<'SH'
#!/usr/bin/env bash
t0=$(date +%s%3N)
"$REAL_WRANGLER" "$@"
rc=$?
echo "$t0 $(date +%s%3N)" >>"$WRANGLER_TIMES"
exit $rc
SH
chmod +x "$STATE_DIR/wrangler-timed"
export REAL_WRANGLER="$WRANGLER" WRANGLER_TIMES="$STATE_DIR/wrangler-times"
# Milliseconds covered by at least one wrangler process.
wrangler_busy() { sort -n "$WRANGLER_TIMES" | awk '{ if (NR == 1 || $1 > end) { if (NR > 1) total += end - start; start = $1; end = $2 } else if ($2 > end) end = $2 } END { total += end - start; print total + 0 }'; }
run_clodo() { : >"$WRANGLER_TIMES"; (cd "$CLODO_DIR" && CLODO_WRANGLER="$STATE_DIR/wrangler-timed" "$CLODO" deploy --env staging --strategy immediate --yes >/dev/null 2>"$STATE_DIR/clodo.err") || { cat "$STATE_DIR/clodo.err" >&2; exit 1; }; }
run_plain() { for s in api web jobs; do (cd "$PLAIN_DIR/$s" && "$WRANGLER" deploy --env staging >/dev/null 2>"$STATE_DIR/plain.err") || { cat "$STATE_DIR/plain.err" >&2; exit 1; }; done; }
run_assess() { (cd "$CLODO_DIR" && "$CLODO" assess --project clodo.toml --env staging --format json >/dev/null) || true; }
timed() { local t0; t0=$(now_ms); "$@"; echo $(( $(now_ms) - t0 )); }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

# measure STACK PREFIX: a team on the control plane at $CLODO_API_URL, its own copies of the
# example (Workers named PREFIX…), a warm-up, then RUNS alternating rounds; lines "[STACK] …".
measure() {
  local stack=$1 prefix=$2 i c w p a o C P A O
  CLODO_TOKEN=$(post /api/v1/bootstrap clodo-dev-bootstrap '{"slug":"bench","name":"Bench","admin_email":"bench@example.com"}' | json_field token.secret)
  export CLODO_TOKEN XDG_CONFIG_HOME="$STATE_DIR/config-$prefix"
  post /api/v1/projects "$CLODO_TOKEN" '{"slug":"shop"}' >/dev/null
  # The environment is bound to the sandbox account, whose credential the control plane's
  # Rollout object uses to move traffic and verify (every strategy goes through it).
  post /api/v1/projects/shop/environments "$CLODO_TOKEN" '{"name":"staging","cloudflare_account_id":"acc_shop"}' >/dev/null
  post /api/v1/credentials "$CLODO_TOKEN" '{"account_id":"acc_shop","name":"sandbox","api_token":"shop-demo-token"}' >/dev/null
  CLODO_DIR=$(copy "${prefix}clodo")
  PLAIN_DIR=$(copy "${prefix}plain")

  echo "[$stack] bench: warm-up (first deploys, not measured)" >&2
  run_clodo
  run_plain

  local clodo_ms=() plain_ms=() assess_ms=() own_ms=()
  for i in $(seq 1 "$RUNS"); do
    c=$(timed run_clodo); w=$(wrangler_busy); p=$(timed run_plain); a=$(timed run_assess)
    o=$((c - w - a))
    clodo_ms+=("$c") plain_ms+=("$p") assess_ms+=("$a") own_ms+=("$o")
    printf '[%s] run %d: clodo deploy %5d ms (wrangler inside %5d ms)   wrangler deploy x3 %5d ms   clodo assess %4d ms   clodo own work %4d ms\n' "$stack" "$i" "$c" "$w" "$p" "$a" "$o"
  done

  C=$(median "${clodo_ms[@]}") P=$(median "${plain_ms[@]}") A=$(median "${assess_ms[@]}") O=$(median "${own_ms[@]}")
  echo "[$stack] median over $RUNS runs: clodo deploy ${C} ms, wrangler deploy x3 one after the other ${P} ms, clodo assess ${A} ms"
  echo "[$stack] end to end: clodo - wrangler = $((C - P)) ms ($(node -e "console.log(($C/$P).toFixed(2))")x; negative: the waves run services side by side)"
  echo "[$stack] clodo's own overhead beyond its wrangler runs and the assessment: ${O} ms (target: under 300 ms)"
}

dev_vars=()
for v in "${VARS[@]}"; do dev_vars+=(--var "${v/=/:}"); done # wrangler dev takes NAME:value
start_local_worker /readyz "${dev_vars[@]}"
export CLODO_API_URL="$LOCAL_WORKER_URL"
measure "wrangler dev" bd
stop_groups "$WORKER_PGID"
WORKER_PGID=""

start_workerd_direct /readyz "${VARS[@]}"
export CLODO_API_URL="$DIRECT_URL"
measure "workerd direct" wd
