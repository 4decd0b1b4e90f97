#!/usr/bin/env bash
# `make dev`: the whole local stack on 127.0.0.1, state kept under the ignored .wrangler/:
#   - the sandbox Cloudflare API (clodo sandbox)   http://127.0.0.1:8788/client/v4
#   - the Worker under local workerd, with local D1 (migrations applied) and Durable Objects
#                                                   http://127.0.0.1:8787
#   - the dashboard                                 http://127.0.0.1:8789
# Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."

API_PORT=${CLODO_API_PORT:-8787}
SANDBOX_PORT=${CLODO_SANDBOX_PORT:-8788}
DASHBOARD_PORT=${CLODO_DASHBOARD_PORT:-8789}
STATE=.wrangler/state
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all EXIT INT TERM

echo "dev: building the clodo CLI" >&2
cargo build --quiet --bin clodo

echo "dev: applying D1 migrations to the local database in $STATE" >&2
npx wrangler d1 migrations apply DB --local --persist-to "$STATE" >/dev/null

echo "dev: starting the sandbox Cloudflare API on :$SANDBOX_PORT" >&2
setsid target/debug/clodo sandbox --seed examples/sandbox-seed.json --seed examples/shop/sandbox-seed.json --port "$SANDBOX_PORT" \
  --state .wrangler/sandbox &
pids+=($!)

echo "dev: starting the dashboard on :$DASHBOARD_PORT" >&2
npm --prefix frontend run --silent build >/dev/null
setsid node frontend/serve.mjs "$DASHBOARD_PORT" &
pids+=($!)

echo "dev: building and starting the Worker on :$API_PORT (first build takes a minute)" >&2
# Dev-only control-plane secrets (docs/architecture.md); production sets real ones with
# `wrangler secret put`, never in wrangler.toml.
setsid npx wrangler dev --ip 127.0.0.1 --port "$API_PORT" --persist-to "$STATE" \
  --var "CLODO_BOOTSTRAP_TOKEN:clodo-dev-bootstrap" --var "CLODO_ENCRYPTION_KEY:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" \
  --var "CLOUDFLARE_API_BASE_URL:http://127.0.0.1:$SANDBOX_PORT/client/v4" \
  --show-interactive-dev-session=false &
pids+=($!)

until curl -sf "http://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1; do
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "dev: a component exited; stopping" >&2; exit 1; }
  done
  sleep 1
done
cat >&2 <<BANNER

  Clodo is running locally:
    API        http://127.0.0.1:$API_PORT        (try: curl http://127.0.0.1:$API_PORT/readyz)
    Dashboard  http://127.0.0.1:$DASHBOARD_PORT
    Sandbox    http://127.0.0.1:$SANDBOX_PORT/client/v4  (token: clodo-dev-token, account: acc_clodo_dev)
  Press Ctrl-C to stop.

BANNER
# Exit (and tear everything down) as soon as any component dies.
wait -n "${pids[@]}"
