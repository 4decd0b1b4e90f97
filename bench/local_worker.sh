# Sourced by the benchmarks (bench/deploy.sh, bench/lock.sh, bench/queries.sh,
# bench/history-render.sh): a free loopback port, the control-plane Worker under `wrangler dev`
# (workerd, local D1 + Durable Objects) with fresh state in $STATE_DIR, deployments seeded into
# its D1, the same build on workerd direct, and stopping process groups. The caller's teardown
# kills the groups in $WORKER_PGID (and $DIRECT_PGID).

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# start_local_worker READY_PATH [wrangler dev arguments...]: applies the migrations, builds the
# Worker unless CLODO_BENCH_BUILT=1, starts it on a free port with the given extra arguments
# (its `--var`s), waits up to 600 s until READY_PATH answers, sets WORKER_PGID and
# LOCAL_WORKER_URL. CLODO_INSPECTOR_PORT: the Worker's DevTools port (default: any free one),
# for a CPU profile of its isolate (docs/performance.md, "Where a lock request's time goes").
start_local_worker() {
  local ready=$1 port
  shift
  npx wrangler d1 migrations apply DB --local --persist-to "$STATE_DIR/state" >"$STATE_DIR/migrate.log" 2>&1 ||
    { cat "$STATE_DIR/migrate.log" >&2; exit 1; }
  # Built once (a release build with wasm-opt takes minutes; bench/run builds first and sets
  # CLODO_BENCH_BUILT=1), then run from build/ with a copy of wrangler.toml without [build],
  # as tests/e2e.sh does: so starting a Worker never rebuilds it. CLODO_BENCH_BUILD_DIR: run
  # a copy of build/ (bench/run's), which a build in this tree meanwhile leaves alone.
  if [ "${CLODO_BENCH_BUILT:-0}" != 1 ] || [ ! -f build/index.js ]; then
    bash scripts/build-worker.sh >"$STATE_DIR/build.log" 2>&1 || { tail -n 40 "$STATE_DIR/build.log" >&2; exit 1; }
  fi
  bash scripts/worker-config.sh "${CLODO_BENCH_BUILD_DIR:-$PWD/build}" >"$STATE_DIR/wrangler.toml"
  port=$(free_port)
  setsid npx wrangler dev --config "$STATE_DIR/wrangler.toml" --ip 127.0.0.1 --port "$port" --persist-to "$STATE_DIR/state" \
    --show-interactive-dev-session=false --inspector-port "${CLODO_INSPECTOR_PORT:-0}" "$@" \
    >"$STATE_DIR/worker.log" 2>&1 </dev/null &
  WORKER_PGID=$!
  LOCAL_WORKER_URL="http://127.0.0.1:$port"
  wait_answering "$LOCAL_WORKER_URL$ready" "$WORKER_PGID" "$STATE_DIR/worker.log" 600
}

# start_workerd_direct READY_PATH [NAME=VALUE...]: the same build and bindings on workerd
# without wrangler dev's proxy and inspector workers (bench/workerd_direct.mjs, Miniflare's
# API), with fresh state in $STATE_DIR/direct and the given variables; after
# start_local_worker (it reuses the wrangler.toml that wrote). Waits until READY_PATH answers,
# sets DIRECT_PGID and DIRECT_URL.
start_workerd_direct() {
  local ready=$1 port
  shift
  mkdir -p "$STATE_DIR/direct"
  npx wrangler d1 migrations apply DB --local --persist-to "$STATE_DIR/direct" >"$STATE_DIR/direct-migrate.log" 2>&1 ||
    { cat "$STATE_DIR/direct-migrate.log" >&2; exit 1; }
  port=$(free_port)
  setsid node bench/workerd_direct.mjs "$STATE_DIR/wrangler.toml" "$STATE_DIR/direct" "$port" "$@" \
    >"$STATE_DIR/direct.log" 2>&1 </dev/null &
  DIRECT_PGID=$!
  DIRECT_URL="http://127.0.0.1:$port"
  wait_answering "$DIRECT_URL$ready" "$DIRECT_PGID" "$STATE_DIR/direct.log"
}

# seed_deployments COUNT SPAN_DAYS: COUNT deployments written straight into the local D1 in
# $STATE_DIR (one statement: creating them through the API would measure the API, not what
# reads them), round robin over the environments of project `shop` of team `bench`, created
# from SPAN_DAYS ago up to now, newest `dep_bench_000001`. Every tenth failed, the rest
# succeeded; each ran 90 s and was committed an hour before (DORA's lead time).
seed_deployments() {
  local count=$1 span_ms=$(($2 * 86400000)) now
  now=$(date +%s%3N)
  cat >"$STATE_DIR/seed.sql" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $count),
envs AS (SELECT env.id, env.project_id, p.team_id, ROW_NUMBER() OVER (ORDER BY env.name) - 1 AS k
           FROM environments env JOIN projects p ON p.id = env.project_id
          WHERE p.slug = 'shop' AND p.team_id = (SELECT id FROM teams WHERE slug = 'bench')),
t AS (SELECT i, $now - i * ($span_ms / $count) AS at FROM n)
INSERT INTO deployments (id, team_id, project_id, environment_id, status, strategy, requested_by,
                         git_ref, git_sha, git_committed_at, message, created_at, started_at, finished_at)
SELECT 'dep_bench_' || printf('%06d', i), e.team_id, e.project_id, e.id,
       CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 'gradual', 'member:admin@bench.test',
       'main', printf('%040x', i), at - 3600000, 'bench deployment ' || i, at, at + 1000, at + 90000
  FROM t JOIN envs e ON e.k = t.i % (SELECT COUNT(*) FROM envs);
SQL
  npx wrangler d1 execute DB --local --persist-to "$STATE_DIR/state" --file "$STATE_DIR/seed.sql" >"$STATE_DIR/seed.log" 2>&1 ||
    { cat "$STATE_DIR/seed.log" >&2; exit 1; }
}

# wait_answering URL PGID LOG [SECONDS]: waits up to SECONDS (default 120) until URL answers;
# exits with LOG's tail when the process group PGID is gone or the time is up.
wait_answering() {
  local url=$1 pgid=$2 log=$3 deadline=$((SECONDS + ${4:-120}))
  until curl -sf "$url" >/dev/null 2>&1; do
    if ! kill -0 "$pgid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      echo "bench: $url did not answer" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
    sleep 0.5
  done
}

# stop_groups PGID...: TERM to each process group, up to 5 s to go, then KILL.
stop_groups() {
  local pgid
  for pgid in "$@"; do
    [ -n "$pgid" ] || continue
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  done
}
