#!/usr/bin/env bash
# End-to-end harness: builds the Worker once (scripts/build-worker.sh), starts that bundle
# under local workerd on a free loopback port with fresh D1 and Durable Object state, waits
# until it answers, runs the e2e test binaries, and always tears everything down.
set -euo pipefail
cd "$(dirname "$0")/.."

export WRANGLER_SEND_METRICS=false
# Keeps miniflare from fetching the Request.cf object from the internet on start.
export CLOUDFLARE_CF_FETCH_ENABLED=false

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/clodo-e2e.XXXXXX")
LOG="$STATE_DIR/worker.log"
# The tests grep it for secrets (tests/e2e_reliability.rs): nothing secret is ever logged.
export CLODO_E2E_WORKER_LOG="$LOG"
WORKER_PGID=""
DASHBOARD_PGID=""
SANDBOX_PGID=""

teardown() {
  local status=$?
  if [ -n "$DASHBOARD_PGID" ]; then kill -TERM -- "-$DASHBOARD_PGID" 2>/dev/null || true; fi
  if [ -n "$SANDBOX_PGID" ]; then kill -TERM -- "-$SANDBOX_PGID" 2>/dev/null || true; fi
  if [ -n "$WORKER_PGID" ]; then
    kill -TERM -- "-$WORKER_PGID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 -- "-$WORKER_PGID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$WORKER_PGID" 2>/dev/null || true
  fi
  if [ -n "${WATCHDOG_PID:-}" ]; then kill "$WATCHDOG_PID" 2>/dev/null || true; fi
  if [ "$status" -ne 0 ] && [ -f "$LOG" ]; then
    # What a failing job may have met: the Worker's own errors and 5xx answers over the whole
    # run (the tail alone shows only the last job's traffic), and any second in which the
    # Worker did not answer /healthz.
    echo "--- the Worker's errors and 5xx answers during the run (first 60) ---" >&2
    grep -nE '✘|ERROR|panicked|RuntimeError| 5[0-9][0-9] |restarted' "$LOG" | head -n 60 >&2 || true
    if [ -s "$STATE_DIR/watchdog.log" ]; then
      echo "--- seconds in which /healthz failed (first 60) ---" >&2
      head -n 60 "$STATE_DIR/watchdog.log" >&2
    fi
    echo "--- last lines of the Worker log ($LOG) ---" >&2
    tail -n 40 "$LOG" >&2
  fi
  # CLODO_E2E_KEEP_LOG=FILE keeps a copy of the Worker's log (for debugging).
  if [ -n "${CLODO_E2E_KEEP_LOG:-}" ] && [ -f "$LOG" ]; then cp "$LOG" "$CLODO_E2E_KEEP_LOG"; fi
  rm -rf "$STATE_DIR"
  exit "$status"
}
trap teardown EXIT INT TERM

echo "e2e: applying migrations to fresh local D1 in $STATE_DIR" >&2
npx wrangler d1 migrations apply DB --local --persist-to "$STATE_DIR/state" >"$STATE_DIR/migrate.log" 2>&1 ||
  { cat "$STATE_DIR/migrate.log" >&2; exit 1; }

# Built before the ports are picked: a build takes minutes, long enough for another process
# to take a port picked earlier.
echo "e2e: building the Worker" >&2
bash scripts/build-worker.sh >"$STATE_DIR/build.log" 2>&1 || { tail -n 40 "$STATE_DIR/build.log" >&2; exit 1; }
cargo build --quiet --bin clodo
PORT=$(free_port)
DASHBOARD_PORT=$(free_port)
SANDBOX_PORT=$(free_port)

# The Worker's Cloudflare API is a sandbox seeded with the test fixture, so the hosted
# assessment endpoint and rollouts talk to a known account.
setsid "${CARGO_TARGET_DIR:-target}/debug/clodo" sandbox --seed tests/fixtures/sandbox/seed.json --seed examples/shop/sandbox-seed.json --port "$SANDBOX_PORT" \
  >"$STATE_DIR/sandbox.log" 2>&1 </dev/null &
SANDBOX_PGID=$!
export CLODO_E2E_SANDBOX_URL="http://127.0.0.1:$SANDBOX_PORT/client/v4"
# The Worker runs from that bundle with a copy of wrangler.toml that has no [build] (why:
# scripts/worker-config.sh).
CONFIG="$STATE_DIR/wrangler.toml"
bash scripts/worker-config.sh >"$CONFIG"
echo "e2e: starting the Worker on 127.0.0.1:$PORT" >&2
# setsid gives wrangler and the workerd it spawns their own process group to kill as one.
setsid npx wrangler dev --config "$CONFIG" --ip 127.0.0.1 --port "$PORT" --persist-to "$STATE_DIR/state" --var "CLODO_BOOTSTRAP_TOKEN:clodo-dev-bootstrap" --var "CLODO_ENCRYPTION_KEY:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" \
  --show-interactive-dev-session=false --inspector-port 0 \
  --var "DASHBOARD_ORIGINS:http://127.0.0.1:$DASHBOARD_PORT" \
  --var "CLOUDFLARE_API_BASE_URL:$CLODO_E2E_SANDBOX_URL" \
  --var "LOCK_STUCK_AFTER_SECS:4" \
  >"$LOG" 2>&1 </dev/null &
WORKER_PGID=$!
npm --prefix frontend run --silent build >"$STATE_DIR/dashboard-build.log" 2>&1 || { cat "$STATE_DIR/dashboard-build.log" >&2; exit 1; }
setsid node frontend/serve.mjs "$DASHBOARD_PORT" >"$STATE_DIR/dashboard.log" 2>&1 </dev/null &
DASHBOARD_PGID=$!

export CLODO_E2E_URL="http://127.0.0.1:$PORT"
deadline=$((SECONDS + ${CLODO_E2E_START_TIMEOUT:-600}))
until curl -sf "$CLODO_E2E_URL/healthz" >/dev/null 2>&1; do
  if ! kill -0 "$WORKER_PGID" 2>/dev/null; then echo "e2e: the Worker exited before it was ready" >&2; exit 1; fi
  if [ "$SECONDS" -ge "$deadline" ]; then echo "e2e: the Worker was not ready in time" >&2; exit 1; fi
  sleep 0.5
done
until curl -s -o /dev/null "$CLODO_E2E_SANDBOX_URL/user/tokens/verify"; do
  if ! kill -0 "$SANDBOX_PGID" 2>/dev/null; then cat "$STATE_DIR/sandbox.log" >&2; echo "e2e: the sandbox exited" >&2; exit 1; fi
  sleep 0.2
done
echo "e2e: Worker and sandbox ready; running the end-to-end tests" >&2

export CLODO_DASHBOARD_URL="http://127.0.0.1:$DASHBOARD_PORT"
# A watchdog asks /healthz every second and notes each failure with its time, so a test that
# failed because the Worker did not answer says so (printed by teardown on failure).
(
  while sleep 1; do
    code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$CLODO_E2E_URL/healthz" || true)
    if [ "$code" != 200 ]; then echo "$(date -u +%T) /healthz answered ${code:-nothing}" >>"$STATE_DIR/watchdog.log"; fi
  done
) </dev/null >/dev/null 2>&1 &
WATCHDOG_PID=$!
# Every tests/e2e_*.rs target; their tests are #[ignore]d under a plain `cargo test`.
# CLODO_E2E_ONLY="e2e_assess e2e_worker" runs those targets and skips the browser tests (for
# development); the name `schemathesis` in it runs the contract test (tests/schemathesis.sh),
# the name `browser` the dashboard's browser tests (tests/browser/).
if [ -n "${CLODO_E2E_ONLY:-}" ]; then
  targets=""
  for name in $CLODO_E2E_ONLY; do
    case "$name" in schemathesis | browser) ;; *) targets="$targets --test $name" ;; esac
  done
  # shellcheck disable=SC2086 # one --test per name listed
  if [ -n "$targets" ]; then cargo test --no-fail-fast $targets -- --ignored; fi
  case " $CLODO_E2E_ONLY " in *" schemathesis "*) bash tests/schemathesis.sh ;; esac
  case " $CLODO_E2E_ONLY " in *" browser "*) node --test tests/browser/ ;; esac
  exit 0
fi
# Every e2e binary is built first; then they run side by side,
# CLODO_E2E_JOBS at a time (default 4): most of their time is spent waiting on rollout steps,
# analysis windows and wrangler, not on CPU, and each test works in its own team, so they do
# not see each other. The slowest start first (measured alone: e2e_safety_deploy ~290 s,
# e2e_ab ~270 s, e2e_rollout ~210 s), so the pool takes about as long as the slowest one. Each
# job's output is printed whole when it ends. The contract test (schemathesis) runs after the
# pool, alone: it sends thousands of requests and, sharing the one local Worker with the pool,
# did not finish within its 10 minutes (it takes ~4 alone).
cargo test --no-run --test 'e2e_*' --message-format=json 2>"$STATE_DIR/e2e-build.log" |
  jq -r 'select(.reason == "compiler-artifact" and .profile.test and (.target.kind | index("test")) and .executable != null) | .executable' \
    >"$STATE_DIR/e2e-binaries" || { cat "$STATE_DIR/e2e-build.log" >&2; exit 1; }
SLOWEST_FIRST="e2e_safety_deploy e2e_ab e2e_rollout e2e_analysis e2e_schedule e2e_plan e2e_export e2e_safety_rollout e2e_notify"
# The reliability suite's quick part runs after the pool, one target at a time: it sends
# hundreds of requests at once, starts Workers of its own and kills them, and injects
# timeouts, and inside the pool its load made other tests' timed checks fail (the quick
# start's health check answered in 1.7 s against its 1 s limit).
AFTER_POOL="e2e_reliability e2e_reliability_faults e2e_reliability_restarts"
{
  for name in $SLOWEST_FIRST; do
    grep "/$name-[0-9a-f]*$" "$STATE_DIR/e2e-binaries" || true
  done
  grep -v -E "/($(echo "$SLOWEST_FIRST $AFTER_POOL" | tr ' ' '|'))-[0-9a-f]*$" "$STATE_DIR/e2e-binaries" || true
} >"$STATE_DIR/e2e-jobs"
mkdir -p "$STATE_DIR/e2e-logs"
export STATE_DIR
run_one() {
  local job=$1 name started status=0
  name=$(basename "$job" | sed 's/-[0-9a-f]*$//')
  started=$SECONDS
  case "$job" in
    browser) node --test tests/browser/ >"$STATE_DIR/e2e-logs/$name.log" 2>&1 || status=$? ;;
    *) "$job" --ignored >"$STATE_DIR/e2e-logs/$name.log" 2>&1 || status=$? ;;
  esac
  {
    echo "=== e2e job $name: exit $status after $((SECONDS - started)) s"
    cat "$STATE_DIR/e2e-logs/$name.log"
  } >&2
  if [ "$status" -ne 0 ]; then echo "$name" >>"$STATE_DIR/e2e-failed"; fi
}
export -f run_one
echo "e2e: $(wc -l <"$STATE_DIR/e2e-jobs") jobs, ${CLODO_E2E_JOBS:-4} at a time" >&2
xargs -P "${CLODO_E2E_JOBS:-4}" -I{} bash -c 'run_one "$@"' _ {} <"$STATE_DIR/e2e-jobs"
for name in $AFTER_POOL; do
  echo "e2e: running $name alone" >&2
  job=$(grep "/$name-[0-9a-f]*$" "$STATE_DIR/e2e-binaries") || { echo "e2e: no test binary for $name" >&2; echo "$name" >>"$STATE_DIR/e2e-failed"; continue; }
  run_one "$job"
done
# The dashboard's browser tests run after the pool, alone: inside it (load average ~14 on two
# cores) Chromium, the dashboard and the Worker shared the CPU with three rollout tests and
# wrangler deploys, and two fresh-clone CI runs failed a different browser test each (a
# sign-in not done in 15 s, failed CORS preflights). Alone, one run still failed, on the
# proxy's 503 to a preflight below.
echo "e2e: running the dashboard's browser tests" >&2
run_one browser
# Once more if they failed: wrangler dev's proxy answers 503 now and then when its connection
# to workerd drops, and retries only GET and HEAD, so a browser's CORS preflight (OPTIONS)
# fails where a GET would not (seen: `OPTIONS /api/v1/tokens 503` amid 214 preflights
# answered 204, the dashboard then showing the error). Deployed Workers have no such proxy.
# Since session 17 the dashboard sends such a call again, and `page.errors`
# (tests/browser/support.mjs) leaves out a preflight error whose 503 is in this log, so this
# retry should be rare (a fresh-clone CI run failed both runs on two such preflights).
# The first run's output is printed above in full, and the retry says it is one.
if grep -qx browser "$STATE_DIR/e2e-failed" 2>/dev/null; then
  echo "e2e: the browser tests failed; the Worker's non-204 preflights and 503s so far:" >&2
  grep -E 'OPTIONS .* [0-9]{3} |\] [A-Z]+ .* 503 ' "$LOG" | grep -v ' 204 ' >&2 || true
  sed -i '/^browser$/d' "$STATE_DIR/e2e-failed"
  echo "e2e: running the browser tests again (a retry)" >&2
  run_one browser
fi
echo "e2e: running the API contract test (schemathesis)" >&2
bash tests/schemathesis.sh || echo schemathesis >>"$STATE_DIR/e2e-failed"
if [ -s "$STATE_DIR/e2e-failed" ]; then
  echo "e2e: FAILED: $(tr '\n' ' ' <"$STATE_DIR/e2e-failed")" >&2
  exit 1
fi
echo "e2e: every job passed" >&2
