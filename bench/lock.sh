#!/usr/bin/env bash
# Deploy-lock benchmark: acquire+release latency (p50/p99) and throughput through the public
# API against the local Worker (workerd + local D1 + Durable Objects), with 1 environment and
# with 50 environments in parallel. Uses CLODO_BENCH_URL if a Worker is already running
# (with CLODO_BOOTSTRAP_TOKEN set), else starts one with fresh state like tests/e2e.sh.
# CLODO_BENCH_PAIRS sets the pairs for the 1-environment run (default 200; 50 envs get 1/10 each).
# CLODO_BENCH_KEEP_LOG=FILE keeps the local Worker's log (its per-request lines, for profiling);
# CLODO_BENCH_WORKER_ARGS adds `wrangler dev` arguments (e.g. `--var NAME:value`).
# Then the same build on workerd without wrangler dev's proxy and inspector workers
# (bench/workerd_direct.mjs), with fresh state: lines prefixed "[wrangler dev]" and
# "[workerd direct]".
# It also starts an empty JS Worker (bench/floor-worker) under the same wrangler dev for the
# stack's floor; with CLODO_BENCH_URL given, the floor is measured only if
# CLODO_BENCH_FLOOR_URL names such a Worker.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

cargo build --quiet --release --example lock_bench
BIN="${CARGO_TARGET_DIR:-target}/release/examples/lock_bench"

if [ -n "${CLODO_BENCH_URL:-}" ]; then
  exec "$BIN"
fi

STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/clodo-bench.XXXXXX")
WORKER_PGID="" FLOOR_PGID="" DIRECT_PGID=""
teardown() {
  local status=$?
  stop_groups "$WORKER_PGID" "$FLOOR_PGID" "$DIRECT_PGID"
  [ "$status" -ne 0 ] && tail -n 30 "$STATE_DIR/worker.log" >&2
  if [ -n "${CLODO_BENCH_KEEP_LOG:-}" ] && [ -f "$STATE_DIR/worker.log" ]; then cp "$STATE_DIR/worker.log" "$CLODO_BENCH_KEEP_LOG"; fi
  rm -rf "$STATE_DIR"
  exit "$status"
}
trap teardown EXIT INT TERM

# shellcheck source=bench/local_worker.sh
. bench/local_worker.sh
export CLODO_BOOTSTRAP_TOKEN=clodo-dev-bootstrap
# shellcheck disable=SC2086 # CLODO_BENCH_WORKER_ARGS is a list of arguments
start_local_worker /healthz --var "CLODO_BOOTSTRAP_TOKEN:$CLODO_BOOTSTRAP_TOKEN" ${CLODO_BENCH_WORKER_ARGS:-}
export CLODO_BENCH_URL="$LOCAL_WORKER_URL"
echo "bench: local Worker (wrangler dev, workerd) at $CLODO_BENCH_URL" >&2

# The stack's own floor: an empty JS Worker (bench/floor-worker) under the same wrangler dev,
# measured after Clodo's figures so the two never share the cores.
floor_port=$(free_port)
setsid npx wrangler dev --config bench/floor-worker/wrangler.toml --ip 127.0.0.1 --port "$floor_port" \
  --show-interactive-dev-session=false --inspector-port 0 --persist-to "$STATE_DIR/floor-state" >"$STATE_DIR/floor.log" 2>&1 </dev/null &
FLOOR_PGID=$!
export CLODO_BENCH_FLOOR_URL="http://127.0.0.1:$floor_port"
wait_answering "$CLODO_BENCH_FLOOR_URL/" "$FLOOR_PGID" "$STATE_DIR/floor.log"
CLODO_BENCH_STACK="wrangler dev" "$BIN"
stop_groups "$WORKER_PGID" "$FLOOR_PGID"
WORKER_PGID="" FLOOR_PGID=""
unset CLODO_BENCH_FLOOR_URL

# The same build and bindings on workerd without wrangler dev's proxy and inspector workers
# (bench/workerd_direct.mjs, Miniflare's API), fresh state: what the Worker itself costs.
start_workerd_direct /healthz "CLODO_BOOTSTRAP_TOKEN=$CLODO_BOOTSTRAP_TOKEN"
export CLODO_BENCH_URL="$DIRECT_URL"
echo "bench: the same Worker on workerd direct (Miniflare, no wrangler dev proxy) at $CLODO_BENCH_URL" >&2
CLODO_BENCH_STACK="workerd direct" "$BIN"
