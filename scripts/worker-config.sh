#!/usr/bin/env bash
# Prints wrangler.toml for running an already built Worker: without [build] and the [env.*]
# sections, `main` pointing at BUNDLE_DIR/index.js and `migrations_dir` made absolute, so the
# copy works from any folder. With [build], `wrangler dev` watches src/ and, on any edit there
# during a run, rebuilds (minutes) and restarts the Worker: in-flight POSTs got 503 "worker
# restarted mid-request" and GETs (a /readyz) waited for the rebuild. Used by tests/e2e.sh and
# bench/local_worker.sh.
#
#   bash scripts/worker-config.sh [BUNDLE_DIR] > OUT.toml    (default BUNDLE_DIR: ./build)
set -euo pipefail
cd "$(dirname "$0")/.."
awk -v root="$PWD" -v bundle="${1:-$PWD/build}" '
  /^\[env\./ { exit }
  /^\[/ { in_build = ($0 == "[build]") }
  in_build { next }
  { sub(/^main = "build\/index.js"/, "main = \"" bundle "/index.js\"");
    sub(/migrations_dir = "migrations"/, "migrations_dir = \"" root "/migrations\""); print }
' wrangler.toml
