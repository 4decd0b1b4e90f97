#!/usr/bin/env bash
# Builds the Worker to build/index.js + wasm with worker-build, using locally installed
# wasm-bindgen, wasm-opt and esbuild (worker-build's own downloads come from GitHub, which
# CI cannot reach).
set -euo pipefail
cd "$(dirname "$0")/.."
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
export CLODO_GIT_SHA="${CLODO_GIT_SHA:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}"
# The Worker's wasm at opt-level "z": 13% smaller gzip than the profile's "s" (measured with
# bench/wasm-size.sh, docs/performance.md "Worker bundle"); the native CLI keeps "s".
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-z}"
worker-build --release

# worker-build's own `wasm-opt -O` is off (Cargo.toml, package.metadata.wasm-pack): it made
# the bundle larger. The release bundle carries no name section (function names: 1.6 MB raw,
# ~300 KB deflated) and no producers section: nothing at run time reads them. Set
# CLODO_KEEP_WASM_NAMES=1 for a build whose panics and profiles name their functions
# (python3 bench/wasm_profile.py build/index_bg.wasm then shows code per crate).
if [ "${CLODO_KEEP_WASM_NAMES:-0}" != 1 ]; then
  "$WASM_OPT_BIN" --enable-reference-types --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-exception-handling \
    --strip-debug --strip-producers \
    build/index_bg.wasm -o build/index_bg.wasm
fi
