#!/usr/bin/env bash
# Benchmark of `clodo assess`: a config with 20 bindings across 8 resource types against the
# sandbox with 100 ms of injected latency on every API call. Prints wall time, API calls and the
# ratio to one call's latency, over several runs, each twice: "cold", with nothing remembered
# (two rounds of parallel calls: the token's verify, then its own policies, which need the id
# verify answers; expect about 2x), then "warm", with the token's id remembered from the cold
# run (src/cli/token_hint.rs: the policies are read beside verify; expect about 1x).
# Not a test: it prints figures.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

LATENCY_MS=${LATENCY_MS:-100}
RUNS=${RUNS:-5}
cargo build --release --quiet --bin clodo
CLODO="${CARGO_TARGET_DIR:-target}/release/clodo"

PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$CLODO" sandbox --seed bench/assess/seed.json --port "$PORT" --latency-ms "$LATENCY_MS" >/dev/null 2>&1 &
SANDBOX=$!
CACHES=$(mktemp -d)
trap 'kill $SANDBOX 2>/dev/null || true; rm -rf "$CACHES"' EXIT
until curl -s -o /dev/null "http://127.0.0.1:$PORT/__sandbox/health"; do sleep 0.1; done

export CLOUDFLARE_API_BASE_URL="http://127.0.0.1:$PORT/client/v4"
export CLOUDFLARE_API_TOKEN=bench-token
export CLOUDFLARE_ACCOUNT_ID=acc_bench

bindings=$(grep -cE '^\s*\{ (binding|name) = ' bench/assess/wrangler.toml)
echo "assess bench: $bindings bindings across 8 resource types, ${LATENCY_MS} ms latency per API call, $RUNS runs"
printf '%-5s %10s %12s %10s %8s %8s %s\n' run wall_ms assess_ms api_calls ratio findings cache
for run in $(seq 1 "$RUNS"); do
  for cache in cold warm; do
    export XDG_CACHE_HOME="$CACHES/$run" # fresh per run: its first assessment is cold
    start=$(date +%s%N)
    out=$("$CLODO" assess --config bench/assess/wrangler.toml --format json) || {
      echo "assess failed (exit $?): $out" >&2
      exit 1
    }
    end=$(date +%s%N)
    node -e '
      const r = JSON.parse(process.argv[1]);
      const wall = (Number(process.argv[2]) / 1e6).toFixed(0);
      const ratio = (r.duration_ms / Number(process.argv[3])).toFixed(2);
      console.log([process.argv[4].padEnd(5), wall.padStart(10), String(r.duration_ms).padStart(12),
        String(r.api_calls).padStart(10), (ratio + "x").padStart(8), String(r.findings.length).padStart(8),
        process.argv[5]].join(" "));
    ' "$out" "$((end - start))" "$LATENCY_MS" "$run" "$cache"
  done
done
