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
exec worker-build --release
