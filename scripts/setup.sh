#!/usr/bin/env bash
# Installs everything Clodo needs to build, run and test, and does nothing when it is already
# there. Called by `make dev` and `make test` (and so by CI on a fresh machine).
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
# The wasm-bindgen CLI must be exactly the library version in Cargo.lock, or the generated
# glue does not match the compiled wasm.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)

say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

installed_version() { "$1" --version 2>/dev/null | awk '{ print $NF }'; }

if [ "$(installed_version worker-build)" != "$WORKER_BUILD_VERSION" ]; then
  say "installing worker-build $WORKER_BUILD_VERSION"
  cargo install worker-build --version "=$WORKER_BUILD_VERSION" --locked
fi

if [ "$(installed_version wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Its lockfile pins a yanked webpki-roots release, so fall back to fresh resolution.
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --locked ||
    cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi

# The test harness reads cargo's JSON messages and the CI templates' outputs with jq.
if ! command -v jq >/dev/null; then
  say "installing Debian's jq"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get install -y -qq jq >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq jq >/dev/null; }
fi

# npm ci only when package-lock.json changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (wrangler, binaryen, esbuild, playwright-core, openapi-typescript, typescript)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The dashboard (frontend/) is its own npm package (Vite, Preact, uPlot, axe-core): its
# lockfile is separate so the dashboard's tools never constrain wrangler's.
if [ ! -f frontend/node_modules/.package-lock.json ] ||
  [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then
  say "installing the dashboard's npm packages (vite, preact, uplot, axe-core)"
  npm ci --prefix frontend --no-audit --no-fund --loglevel=error
fi

if [ "${CLODO_SETUP_BROWSER:-0}" = 1 ] && ! command -v chromium >/dev/null; then
  say "installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# The API contract test (tests/schemathesis.sh) runs schemathesis from its own venv; installed
# with the test tools so CI's first `make test` does not wait for it mid-run.
SCHEMATHESIS_VERSION=$(awk -F= '/^SCHEMATHESIS_VERSION=/ { print $2; exit }' tests/schemathesis.sh)
SCHEMATHESIS_VENV="${CARGO_TARGET_DIR:-target}/schemathesis-venv"
if [ "${CLODO_SETUP_BROWSER:-0}" = 1 ] &&
  [ "$("$SCHEMATHESIS_VENV/bin/schemathesis" --version 2>/dev/null | awk '{ print $NF }')" != "$SCHEMATHESIS_VERSION" ]; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into $SCHEMATHESIS_VENV (API contract test)"
  python3 -m venv "$SCHEMATHESIS_VENV"
  "$SCHEMATHESIS_VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# `clodo export` tests (tests/e2e_export.rs): python-hcl2 parses the Terraform export (~30 MB venv,
# seconds), and tsc type-checks the Pulumi export against @pulumi/cloudflare (tests/pulumi/,
# its own lockfile: ~125 MB, ~25 s). The test installs both itself when they are missing.
# Test tools only: installed by `make test` (CLODO_SETUP_BROWSER=1), not by `make dev`.
if [ "${CLODO_SETUP_BROWSER:-0}" = 1 ]; then
  HCL2_VERSION=$(sed -n 's/^const HCL2_VERSION: &str = "\(.*\)";/\1/p' tests/e2e_export.rs)
  HCL2_VENV="${CARGO_TARGET_DIR:-target}/hcl2-venv"
  if ! "$HCL2_VENV/bin/python" -c "import hcl2" 2>/dev/null; then
    say "installing python-hcl2 $HCL2_VERSION into $HCL2_VENV (export test)"
    python3 -m venv "$HCL2_VENV"
    "$HCL2_VENV/bin/pip" install --quiet --disable-pip-version-check "python-hcl2==$HCL2_VERSION"
  fi
  if [ ! -f tests/pulumi/node_modules/.package-lock.json ] ||
    [ tests/pulumi/package-lock.json -nt tests/pulumi/node_modules/.package-lock.json ]; then
    say "installing @pulumi/cloudflare and typescript into tests/pulumi (export test)"
    npm ci --prefix tests/pulumi --no-audit --no-fund --ignore-scripts --loglevel=error
  fi
fi
