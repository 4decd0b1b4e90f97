#!/usr/bin/env bash
# A synthetic day of a large organisation, replayed at reduced scale through the public API
# of a running local Worker, then extrapolated with the statement counts of docs/scaling.md.
#
#   CLODO_BENCH_URL=http://127.0.0.1:8787 CLODO_BOOTSTRAP_TOKEN=clodo-dev-bootstrap \
#     bench/simulate-day.sh
#
# Needs a Worker already running with CLODO_ENCRYPTION_KEY set (e.g. `make dev`, or
# bench/local_worker.sh as bench/lock.sh uses it, plus that --var); curl, jq and openssl. It creates its own team (POST /api/v1/teams with the
# operator secret), so it can run against a Worker other tests use.
#
# Knobs (environment):
#   CLODO_SIM_DEPLOYS_PER_DAY  full-scale deployments in the day (default 10000)
#   CLODO_SIM_FACTOR           reduced scale: the fraction replayed (default 0.01 → 100)
#   CLODO_SIM_PROJECTS         projects (default 5), CLODO_SIM_ENVS environments each (default 4)
#   CLODO_SIM_LOCKS_PER_DEPLOY lock-only acquire+release pairs per deployment (default 2)
#   CLODO_SIM_HOOKS_PER_DEPLOY GitHub deliveries (signed `ping`) per deployment (default 3)
#   CLODO_SIM_CONCURRENCY      requests in flight (default 8; keep ≤ projects × envs)
#   CLODO_SIM_Q_MS             assumed D1 statement time for the extrapolation (default 1)
#
# What a simulated deployment does (no approvals, no uploads: those need a member approver and
# the sandbox's versions): create → lock acquire (holder = the deployment) → deploying →
# succeeded (which frees the lock on the server); one that finds its environment held leaves
# the queue and is cancelled (counted as deploy.cancelled). Lock-only pairs use their own
# project, one environment per request in flight, so they never hold one a deployment waits for.
#
# Limits: the day is compressed (each hour's share runs back to back, as fast as the
# concurrency allows), so it measures the mix's cost and correctness, not wall-clock pacing;
# local workerd is one process on this machine, so its latencies are not Cloudflare's; the
# statement counts are the hand counts of docs/scaling.md section 2, not measured.
set -euo pipefail

BASE="${CLODO_BENCH_URL:?CLODO_BENCH_URL (a running local Worker)}"
SECRET="${CLODO_BOOTSTRAP_TOKEN:-clodo-dev-bootstrap}"
DAY="${CLODO_SIM_DEPLOYS_PER_DAY:-10000}"
FACTOR="${CLODO_SIM_FACTOR:-0.01}"
PROJECTS="${CLODO_SIM_PROJECTS:-5}"
ENVS="${CLODO_SIM_ENVS:-4}"
LOCKS_PER="${CLODO_SIM_LOCKS_PER_DEPLOY:-2}"
HOOKS_PER="${CLODO_SIM_HOOKS_PER_DEPLOY:-3}"
CONC="${CLODO_SIM_CONCURRENCY:-8}"
Q_MS="${CLODO_SIM_Q_MS:-1}"

# D1 statements per operation (docs/scaling.md, section 2; reads + writes + trigger runs).
STMTS_CREATE=12    # create, queued at once: 6 reads, 4 writes, 2 notify trigger runs
STMTS_ACQUIRE=3    # auth, project, environment
STMTS_DEPLOYING=9  # 5 reads, 3 writes, 1 trigger
STMTS_FINAL=8      # 4 reads, 3 writes, 1 trigger
STMTS_RELEASE=3    # release or cancel
STMTS_CANCELLED=8  # → cancelled, like any final move
STMTS_HOOK=2       # ping: integration lookup, delivery row

# A working day: relative weight of each UTC hour (00..23).
WEIGHTS=(1 1 1 1 1 2 4 8 12 14 14 12 10 12 14 14 12 10 6 4 3 2 1 1)

# One operation, run by xargs: `__op KIND ARGS…`; appends "kind http_status seconds" lines.
if [ "${1:-}" = "__op" ]; then
  shift
  kind=$1
  shift
  call() { # label method path body → status and body in $status / $answer
    local out
    local data=()
    [ -n "${4:-}" ] && data=(--data "$4")
    out=$(curl -sS -o - -w '\n%{http_code} %{time_total}' -X "$2" "$BASE$3" \
      -H "authorization: Bearer $SIM_TOKEN" -H 'content-type: application/json' \
      "${data[@]}") || out=$'\n000 0'
    answer=$(printf '%s' "$out" | sed '$d')
    local tail
    tail=$(printf '%s' "$out" | tail -n1)
    status=${tail%% *}
    echo "$1 $tail" >>"$SIM_LOG"
  }
  case "$kind" in
    deploy)
      p=$1 e=$2
      call deploy.create POST /api/v1/deployments \
        "{\"project\":\"$p\",\"environment\":\"$e\",\"strategy\":\"immediate\",\"message\":\"simulated\"}"
      [ "$status" = 201 ] || exit 0
      id=$(printf '%s' "$answer" | jq -r '.id')
      call lock.acquire POST "/api/v1/projects/$p/environments/$e/lock/acquire" \
        "{\"holder_id\":\"$id\",\"purpose\":\"simulated deploy\"}"
      if [ "$(printf '%s' "$answer" | jq -r '.outcome // empty')" = queued ]; then
        # Another job holds the environment: leave the queue and cancel (counted, not an error).
        call lock.cancel POST "/api/v1/projects/$p/environments/$e/lock/cancel" "{\"holder_id\":\"$id\"}"
        call deploy.cancelled POST "/api/v1/deployments/$id/transitions" '{"to":"cancelled"}'
        exit 0
      fi
      call deploy.deploying POST "/api/v1/deployments/$id/transitions" '{"to":"deploying"}'
      [ "$status" = 200 ] || exit 0
      call deploy.succeeded POST "/api/v1/deployments/$id/transitions" '{"to":"succeeded"}'
      ;;
    lock)
      p=$1 e=$2 holder="sim-$RANDOM$RANDOM"
      call lock.acquire POST "/api/v1/projects/$p/environments/$e/lock/acquire" \
        "{\"holder_id\":\"$holder\",\"purpose\":\"simulated\"}"
      if [ "$(printf '%s' "$answer" | jq -r '.outcome // empty')" = queued ]; then
        call lock.cancel POST "/api/v1/projects/$p/environments/$e/lock/cancel" "{\"holder_id\":\"$holder\"}"
      else
        call lock.release POST "/api/v1/projects/$p/environments/$e/lock/release" \
          "{\"holder_id\":\"$holder\"}"
      fi
      ;;
    hook)
      body="{\"zen\":\"simulated\",\"repository\":{\"full_name\":\"$SIM_REPO\",\"id\":1}}"
      sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$SIM_HOOK_SECRET" -hex | sed 's/^.*= //')
      out=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -X POST \
        "$BASE/integrations/github/webhook" -H 'content-type: application/json' \
        -H "x-github-event: ping" -H "x-github-delivery: sim-$RANDOM$RANDOM$RANDOM" \
        -H "x-hub-signature-256: sha256=$sig" --data "$body") || out="000 0"
      echo "hook.ping $out" >>"$SIM_LOG"
      ;;
  esac
  exit 0
fi

command -v jq >/dev/null || { echo "simulate-day: needs jq" >&2; exit 1; }
command -v openssl >/dev/null || { echo "simulate-day: needs openssl" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/clodo-sim.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export SIM_LOG="$WORK/calls.log"
: >"$SIM_LOG"

post() { # path token body → answer body; fails on non-2xx
  curl -sS --fail-with-body -X "${4:-POST}" "$BASE$1" -H "authorization: Bearer $2" \
    -H 'content-type: application/json' --data "$3"
}

slug="sim-$$-$RANDOM"
team=$(post /api/v1/teams "$SECRET" \
  "{\"slug\":\"$slug\",\"name\":\"simulated day\",\"admin_email\":\"sim@$slug.test\"}")
export SIM_TOKEN
SIM_TOKEN=$(printf '%s' "$team" | jq -r '.token.secret')
for p in $(seq 0 $((PROJECTS - 1))) locks; do
  post /api/v1/projects "$SIM_TOKEN" "{\"slug\":\"sim-$p\"}" >/dev/null
  n_envs=$ENVS
  [ "$p" = locks ] && n_envs=$CONC # lock-only pairs: one environment per request in flight
  for e in $(seq 0 $((n_envs - 1))); do
    post "/api/v1/projects/sim-$p/environments" "$SIM_TOKEN" "{\"name\":\"env-$e\"}" >/dev/null
  done
done
export SIM_REPO="sim-org/$slug" SIM_HOOK_SECRET
SIM_HOOK_SECRET="sim-webhook-secret-$RANDOM$RANDOM$RANDOM"
post /api/v1/projects/sim-0/github "$SIM_TOKEN" \
  "{\"repository\":\"$SIM_REPO\",\"webhook_secret\":\"$SIM_HOOK_SECRET\",\"api_token\":\"not-used\"}" PUT >/dev/null

total_weight=0
for w in "${WEIGHTS[@]}"; do total_weight=$((total_weight + w)); done
replayed=$(awk -v d="$DAY" -v f="$FACTOR" 'BEGIN { printf "%d", d * f + 0.5 }')
echo "simulate-day: team $slug, $replayed of $DAY deployments (factor $FACTOR), $PROJECTS×$ENVS environments, concurrency $CONC" >&2

peak_ops=0 peak_hour=0 job=0
start=$(date +%s.%N)
for h in "${!WEIGHTS[@]}"; do
  n=$(awk -v r="$replayed" -v w="${WEIGHTS[$h]}" -v t="$total_weight" 'BEGIN { printf "%d", r * w / t + 0.5 }')
  [ "$n" -gt "$peak_ops" ] && { peak_ops=$n; peak_hour=$h; }
  : >"$WORK/hour"
  for _ in $(seq 1 "$n"); do
    p=$((job % PROJECTS)) e=$(((job / PROJECTS) % ENVS))
    echo "deploy sim-$p env-$e" >>"$WORK/hour"
    for i in $(seq 1 "$LOCKS_PER"); do
      echo "lock sim-locks env-$(((job * LOCKS_PER + i) % CONC))" >>"$WORK/hour"
    done
    for _ in $(seq 1 "$HOOKS_PER"); do echo "hook" >>"$WORK/hour"; done
    job=$((job + 1))
  done
  [ -s "$WORK/hour" ] || continue
  # shellcheck disable=SC2016
  xargs -P "$CONC" -L 1 sh -c '"$0" __op "$@"' "$0" <"$WORK/hour"
  echo "hour $h: $n deployments replayed" >&2
done
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

echo
echo "per call kind (local workerd; latencies are this machine's):"
printf '%-20s %7s %7s %9s %9s\n' kind calls non2xx p50_ms p99_ms
for kind in $(awk '{ print $1 }' "$SIM_LOG" | sort -u); do
  awk -v k="$kind" '$1 == k { print $3 * 1000 }' "$SIM_LOG" | sort -n >"$WORK/lat"
  calls=$(wc -l <"$WORK/lat")
  bad=$(awk -v k="$kind" '$1 == k && ($2 < 200 || $2 >= 300) { n++ } END { print n + 0 }' "$SIM_LOG")
  p50=$(awk -v n="$calls" 'NR == int((n - 1) * 0.50) + 1 { printf "%.0f", $1 }' "$WORK/lat")
  p99=$(awk -v n="$calls" 'NR == int((n - 1) * 0.99) + 1 { printf "%.0f", $1 }' "$WORK/lat")
  printf '%-20s %7s %7s %9s %9s\n' "$kind" "$calls" "$bad" "$p50" "$p99"
done
echo "replayed in ${elapsed}s"

# Extrapolation: the statements the replayed calls cost, scaled back to the full day.
count() { awk -v k="$1" '$1 == k && $2 >= 200 && $2 < 300 { n++ } END { print n + 0 }' "$SIM_LOG"; }
stmts=$((STMTS_CREATE * $(count deploy.create) + STMTS_ACQUIRE * $(count lock.acquire) \
  + STMTS_DEPLOYING * $(count deploy.deploying) + STMTS_FINAL * $(count deploy.succeeded) \
  + STMTS_RELEASE * ($(count lock.release) + $(count lock.cancel)) \
  + STMTS_CANCELLED * $(count deploy.cancelled) + STMTS_HOOK * $(count hook.ping)))
awk -v s="$stmts" -v f="$FACTOR" -v q="$Q_MS" -v peak="$peak_ops" -v r="$replayed" -v ph="$peak_hour" 'BEGIN {
  day = s / f
  per_dep = (r > 0) ? s / r : 0
  peak_rate = per_dep * peak / f / 3600
  cap = 1000 / q
  printf "\nextrapolated to the full day (statement counts of docs/scaling.md, q = %s ms):\n", q
  printf "  D1 statements in the day:            %.0f (%.1f per deployment incl. its locks and hooks)\n", day, per_dep
  printf "  mean statements/s:                   %.1f\n", day / 86400
  printf "  peak hour (%02d UTC) statements/s:     %.1f = %.1f%% of one D1 at %s ms\n", ph, peak_rate, 100 * peak_rate / cap, q
}'
if [ "$(awk '$2 < 200 || $2 >= 300' "$SIM_LOG" | wc -l)" -ne 0 ]; then
  echo "simulate-day: some calls failed (see non2xx above)" >&2
  exit 1
fi
