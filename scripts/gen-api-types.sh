#!/usr/bin/env bash
# Writes the control plane's OpenAPI document (`clodo openapi`) to docs/openapi.json (what
# `GET /api/v1/openapi.json` serves, compiled into the Worker) and the dashboard's API types,
# frontend/src/api/schema.d.ts, from it with openapi-typescript, then type-checks the dashboard
# against them (`tsc -p frontend`).
#
#   scripts/gen-api-types.sh           regenerate the file (commit it with the change)
#   scripts/gen-api-types.sh --check   fail when the committed file is out of date (the test
#                                      `tests/api_types.rs` runs this under `cargo test`)
#
# CLODO_BIN names a built `clodo` binary; without it the script builds one with cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

target=frontend/src/api/schema.d.ts
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

clodo=${CLODO_BIN:-}
if [ -z "$clodo" ]; then
  cargo build --quiet --bin clodo
  clodo="${CARGO_TARGET_DIR:-target}/debug/clodo"
fi
"$clodo" openapi >"$work/openapi.json"

if ! node_modules/.bin/openapi-typescript "$work/openapi.json" -o "$work/schema.d.ts" >"$work/log" 2>&1; then
  cat "$work/log" >&2
  exit 1
fi

if [ "$check" = 1 ]; then
  if ! cmp -s "$work/openapi.json" docs/openapi.json; then
    echo "docs/openapi.json is out of date: run scripts/gen-api-types.sh and commit it" >&2
    exit 1
  fi
  if ! cmp -s "$work/schema.d.ts" "$target"; then
    diff -u "$target" "$work/schema.d.ts" | head -40 >&2 || true
    echo "$target is out of date with the OpenAPI document: run scripts/gen-api-types.sh and commit it" >&2
    exit 1
  fi
else
  mkdir -p "$(dirname "$target")"
  cp "$work/schema.d.ts" "$target"
  cp "$work/openapi.json" docs/openapi.json
  echo "wrote $target and docs/openapi.json" >&2
fi

# The dashboard reads the answers through these types (JSDoc in frontend/public/app.js).
node_modules/.bin/tsc -p frontend/tsconfig.json
