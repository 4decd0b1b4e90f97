#!/usr/bin/env bash
# Deploy-lock benchmark: acquire+release latency (p50/p99) and throughput through the public
# API against the local Worker (workerd + local D1 + Durable Objects), with 1 environment and
# with 50 environments in parallel. Uses CLODO_BENCH_URL if a Worker is already running
# (with CLODO_BOOTSTRAP_TOKEN set), else starts one with fresh state like tests/e2e.sh.
# CLODO_BENCH_PAIRS sets the pairs for the 1-environment run (default 200; 50 envs get 1/10 each).
# CLODO_BENCH_KEEP_LOG=FILE keeps the local Worker's log (its per-request lines, for profiling);
# CLODO_BENCH_WORKER_ARGS adds `wrangler dev` arguments (e.g. `--var NAME:value`).
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

cargo build --quiet --release --example lock_bench
BIN="${CARGO_TARGET_DIR:-target}/release/examples/lock_bench"

if [ -n "${CLODO_BENCH_URL:-}" ]; then
  exec "$BIN"
fi

STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/clodo-bench.XXXXXX")
WORKER_PGID=""
teardown() {
  local status=$?
  if [ -n "$WORKER_PGID" ]; then
    kill -TERM -- "-$WORKER_PGID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 -- "-$WORKER_PGID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$WORKER_PGID" 2>/dev/null || true
  fi
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
"$BIN"
