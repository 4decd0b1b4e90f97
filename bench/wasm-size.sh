#!/usr/bin/env bash
# Prints the size of the release Worker bundle (raw and gzip): what Cloudflare's script-size
# limit (3 MiB gzip on the free plan, 10 MiB on paid) is measured against.
set -euo pipefail
cd "$(dirname "$0")/.."
# CLODO_BENCH_BUILT=1: build/ is already this tree's release build (bench/run builds first).
if [ "${CLODO_BENCH_BUILT:-0}" != 1 ]; then
  bash scripts/build-worker.sh >/dev/null 2>&1
fi
wasm=build/index_bg.wasm
js=build/index.js
raw_wasm=$(stat -c %s "$wasm")
gz_wasm=$(gzip -9 -c "$wasm" | wc -c)
raw_js=$(stat -c %s "$js")
gz_js=$(gzip -9 -c "$js" | wc -c)
printf '%-22s %10s %10s\n' file raw gzip
printf '%-22s %10d %10d\n' "$wasm" "$raw_wasm" "$gz_wasm"
printf '%-22s %10d %10d\n' "$js" "$raw_js" "$gz_js"
printf '%-22s %10d %10d  (%.1f%% of the 3 MiB free-plan limit)\n' total \
  $((raw_wasm + raw_js)) $((gz_wasm + gz_js)) "$(awk -v g=$((gz_wasm + gz_js)) 'BEGIN { print g * 100 / 3145728 }')"
