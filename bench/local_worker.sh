# Sourced by the benchmarks (bench/deploy.sh, bench/lock.sh): a free loopback port, and the
# control-plane Worker under `wrangler dev` (workerd, local D1 + Durable Objects) with fresh
# state in $STATE_DIR. The caller's teardown kills the process group in $WORKER_PGID.

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# start_local_worker READY_PATH [wrangler dev arguments...]: applies the migrations, starts the
# Worker on a free port with the given extra arguments (its `--var`s), waits up to 600 s until
# READY_PATH answers, and sets WORKER_PGID and LOCAL_WORKER_URL.
start_local_worker() {
  local ready=$1 port
  shift
  npx wrangler d1 migrations apply DB --local --persist-to "$STATE_DIR/state" >"$STATE_DIR/migrate.log" 2>&1 ||
    { cat "$STATE_DIR/migrate.log" >&2; exit 1; }
  port=$(free_port)
  setsid npx wrangler dev --ip 127.0.0.1 --port "$port" --persist-to "$STATE_DIR/state" \
    --show-interactive-dev-session=false --inspector-port 0 "$@" \
    >"$STATE_DIR/worker.log" 2>&1 </dev/null &
  WORKER_PGID=$!
  LOCAL_WORKER_URL="http://127.0.0.1:$port"
  local deadline=$((SECONDS + 600))
  until curl -sf "$LOCAL_WORKER_URL$ready" >/dev/null 2>&1; do
    if ! kill -0 "$WORKER_PGID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then echo "bench: the Worker did not start" >&2; exit 1; fi
    sleep 0.5
  done
}
