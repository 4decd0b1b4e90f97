#!/usr/bin/env bash
# Tests of what pipelines use (docs/ci.md): the GitHub Action, the GitLab template and the
# CircleCI orb validate against their published JSON schemas (SchemaStore's, as vendored by
# check-jsonschema from PyPI); the pre-commit hook manifest validates and the real pre-commit
# runs the hook with try-repo, failing on a broken config and passing on a fixed one; the
# action's shell steps run with a fake GITHUB_OUTPUT / GITHUB_STEP_SUMMARY, installing a
# release from a loopback server through scripts/install.sh (which refuses a tampered one).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

CHECK_JSONSCHEMA_VERSION=0.39.0
PRE_COMMIT_VERSION=4.7.0
venv="${CARGO_TARGET_DIR:-target}/ci-venv"
if [ "$("$venv/bin/check-jsonschema" --version 2>/dev/null | awk '{ print $NF }')" != "$CHECK_JSONSCHEMA_VERSION" ] ||
  [ "$("$venv/bin/pre-commit" --version 2>/dev/null | awk '{ print $NF }')" != "$PRE_COMMIT_VERSION" ]; then
  echo "ci-templates: installing check-jsonschema $CHECK_JSONSCHEMA_VERSION and pre-commit $PRE_COMMIT_VERSION into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" "pre-commit==$PRE_COMMIT_VERSION"
fi
venv=$(cd "$venv" && pwd)
cargo build --quiet --bin clodo
clodo_dir="$root/${CARGO_TARGET_DIR:-target}/debug"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/clodo-ci.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { echo "FAIL - $*" >&2; exit 1; }

# --- published schemas -------------------------------------------------------------------
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-actions action.yml >/dev/null || fail "action.yml"
ok "action.yml validates against SchemaStore's github-action schema"
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows examples/ci/github/*.yml >/dev/null || fail "example workflows"
ok "examples/ci/github/*.yml validate as GitHub workflows"
"$venv/bin/check-jsonschema" --builtin-schema vendor.gitlab-ci templates/gitlab/clodo.gitlab-ci.yml examples/ci/gitlab/.gitlab-ci.yml >/dev/null || fail "GitLab template"
ok "the GitLab template and its example validate against the gitlab-ci schema"
"$venv/bin/check-jsonschema" --builtin-schema vendor.circle-ci templates/circleci/orb.yml examples/ci/circleci/config.yml >/dev/null || fail "CircleCI orb"
ok "the CircleCI orb and its example validate against the circle-ci schema"
"$venv/bin/pre-commit" validate-manifest .pre-commit-hooks.yaml || fail ".pre-commit-hooks.yaml"
"$venv/bin/pre-commit" validate-config examples/ci/pre-commit/.pre-commit-config.yaml || fail "pre-commit example"
ok "the pre-commit manifest and example config validate"

# Every example pins the version this tree builds, so copying one never names a release
# that does not match the docs.
version=$("$clodo_dir/clodo" --version | awk '{ print $NF }')
stale=$(grep -rhoE '(clodo@v?|version: |CLODO_VERSION: "|rev: v|clodo/v)[0-9]+\.[0-9]+\.[0-9]+' examples/ci templates |
  grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | sort -u | grep -vx "$version" || true)
[ -z "$stale" ] || fail "examples pin versions other than $version: $stale"
ok "examples and templates pin clodo $version"

# --- install.sh against a loopback release -------------------------------------------------
release="$tmp/release"
mkdir -p "$release/good" "$release/tampered" "$release/mislabelled"
asset="clodo-$version-x86_64-unknown-linux-musl.tar.gz"
tar -czf "$release/good/$asset" -C "$clodo_dir" clodo
(cd "$release/good" && sha256sum "$asset" >SHA256SUMS)
cp "$release/good/SHA256SUMS" "$release/tampered/"
printf 'not the binary' | gzip >"$release/tampered/$asset"
other="clodo-9.9.9-x86_64-unknown-linux-musl.tar.gz"
cp "$release/good/$asset" "$release/mislabelled/$other"
(cd "$release/mislabelled" && sha256sum "$other" >SHA256SUMS)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$release" >"$tmp/http.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done

if CLODO_DOWNLOAD_BASE="http://127.0.0.1:$port/tampered" sh scripts/install.sh --version "$version" --dir "$tmp/bad" 2>"$tmp/err"; then
  fail "install.sh installed a download whose checksum does not match"
fi
grep -q "checksum mismatch" "$tmp/err" || fail "install.sh did not say why: $(cat "$tmp/err")"
[ ! -e "$tmp/bad/clodo" ] || fail "a tampered download was left installed"
ok "install.sh refuses a download that does not match SHA256SUMS"
if CLODO_DOWNLOAD_BASE="http://127.0.0.1:$port/mislabelled" sh scripts/install.sh --version 9.9.9 --dir "$tmp/bad" 2>"$tmp/err"; then
  fail "install.sh installed a binary of another version"
fi
[ ! -e "$tmp/bad/clodo" ] || fail "a mislabelled binary was left installed"
ok "install.sh refuses a binary that is not the version asked for"

# The asset follows `uname -m`: on an arm64 machine (a PATH shim answers `aarch64`) it is the
# aarch64 archive. Here that archive holds the runnable binary and the x86_64 one a decoy, so
# only the right pick installs.
mkdir -p "$release/multiarch" "$tmp/arm/bin"
arm_asset="clodo-$version-aarch64-unknown-linux-musl.tar.gz"
cp "$release/good/$asset" "$release/multiarch/$arm_asset"
printf 'not for this machine' | gzip >"$release/multiarch/$asset"
(cd "$release/multiarch" && sha256sum "$asset" "$arm_asset" >SHA256SUMS)
real_uname=$(command -v uname)
printf '#!/bin/sh\n[ "$1" = -m ] && { echo aarch64; exit 0; }\nexec %s "$@"\n' "$real_uname" >"$tmp/arm/bin/uname"
chmod +x "$tmp/arm/bin/uname"
PATH="$tmp/arm/bin:$PATH" CLODO_DOWNLOAD_BASE="http://127.0.0.1:$port/multiarch" \
  sh scripts/install.sh --version "$version" --dir "$tmp/arm/installed" 2>"$tmp/err" ||
  fail "install.sh on aarch64 did not install the aarch64 asset: $(cat "$tmp/err")"
grep -q "\"GET /multiarch/$arm_asset" "$tmp/http.log" || fail "install.sh did not fetch $arm_asset"
if grep -q "\"GET /multiarch/$asset" "$tmp/http.log"; then fail "install.sh fetched the x86_64 asset on aarch64"; fi
ok "install.sh picks the aarch64 asset by uname -m"

# --- the action's steps, as GitHub runs them ----------------------------------------------
gh="$tmp/gh"
mkdir -p "$gh/home" "$gh/runner"
export GITHUB_OUTPUT="$gh/output" GITHUB_PATH="$gh/path" RUNNER_TEMP="$gh/runner"
: >"$GITHUB_OUTPUT"
: >"$GITHUB_PATH"
HOME="$gh/home" INPUT_VERSION="v$version" CLODO_DOWNLOAD_BASE="http://127.0.0.1:$port/good" \
  bash scripts/ci/github-action.sh install
installed="$gh/home/.clodo/bin/$version"
[ -x "$installed/clodo" ] || fail "the install step left no clodo in $installed"
grep -qx "$installed" "$GITHUB_PATH" || fail "the install step did not add $installed to GITHUB_PATH"
# A second run is a cache hit: nothing is downloaded again.
requests=$(grep -c "GET /good/$asset" "$tmp/http.log")
HOME="$gh/home" INPUT_VERSION="$version" CLODO_DOWNLOAD_BASE="http://127.0.0.1:$port/good" \
  bash scripts/ci/github-action.sh install 2>/dev/null
[ "$(grep -c "GET /good/$asset" "$tmp/http.log")" = "$requests" ] || fail "a cached binary was downloaded again"
ok "the action installs the pinned release once, verified, and puts it on PATH"

project="$tmp/project"
mkdir -p "$project/src"
printf 'name = "shop-api"\nmain = "src/missing.ts"\ncompatibility_date = "2024-01-01"\n' >"$project/wrangler.toml"
run_assess() {
  (cd "$project" && PATH="$installed:$PATH" GITHUB_STEP_SUMMARY="$gh/summary.md" INPUT_CONFIG=wrangler.toml \
    INPUT_OFFLINE=true "$@" bash "$root/scripts/ci/github-action.sh" assess >"$gh/stdout")
}
output_of() { grep "^$1=" "$GITHUB_OUTPUT" | tail -n 1 | cut -d= -f2-; }
: >"$GITHUB_OUTPUT"
status=0
run_assess env || status=$?
[ "$status" = 1 ] || fail "a not-ready assessment exited $status, not 1"
[ "$(output_of ready)" = false ] || fail "ready output: $(output_of ready)"
[ "$(output_of errors)" = 1 ] || fail "errors output: $(output_of errors)"
[ "$(output_of findings)" = 2 ] || fail "findings output: $(output_of findings)"
grep -q '^::error file=wrangler.toml.*title=main_missing::' "$gh/stdout" || fail "no error annotation: $(cat "$gh/stdout")"
grep -q '^### Clodo assessment' "$gh/summary.md" || fail "no job summary"
grep -q 'main_missing\|entry point' "$gh/summary.md" || fail "the summary does not list the finding"
jq -e '.ready == false' "$(output_of report)" >/dev/null || fail "the report output is not the JSON report"
ok "assess: annotations, a job summary and outputs from one not-ready assessment; the step fails"
: >"$GITHUB_OUTPUT"
run_assess env INPUT_FAIL_ON_NOT_READY=false || fail "fail-on-not-ready=false still failed the step"
[ "$(output_of ready)" = false ] || fail "ready output with fail-on-not-ready=false"
ok "assess: fail-on-not-ready=false reports but does not fail"
echo 'export default { fetch() { return new Response("ok") } }' >"$project/src/missing.ts"
sed -i "s/2024-01-01/$(date -u +%F)/" "$project/wrangler.toml"
: >"$GITHUB_OUTPUT"
run_assess env || fail "a ready assessment failed the step: $(cat "$gh/stdout")"
[ "$(output_of ready)" = true ] && [ "$(output_of errors)" = 0 ] || fail "ready outputs: $(cat "$GITHUB_OUTPUT")"
grep -q '✅' "$gh/summary.md" || fail "the summary of a ready assessment"
ok "assess: a ready project passes with ready=true"

# --- pre-commit try-repo -----------------------------------------------------------------
repo="$tmp/user-repo"
mkdir -p "$repo/api/src"
printf 'name = "shop-api"\nmain = "src/index.ts"\ncompatibility_date = "%s"\n' "$(date -u +%F)" >"$repo/api/wrangler.toml"
git -C "$repo" init -q
git -C "$repo" add -A
hook() {
  (cd "$repo" && PATH="$clodo_dir:$PATH" PRE_COMMIT_HOME="$tmp/pre-commit-home" \
    "$venv/bin/pre-commit" try-repo "$root" clodo-assess --all-files) >"$tmp/pre-commit.log" 2>&1
}
if hook; then fail "pre-commit passed a config whose entry point is missing: $(cat "$tmp/pre-commit.log")"; fi
grep -q "main_missing" "$tmp/pre-commit.log" || fail "the hook did not show the finding: $(cat "$tmp/pre-commit.log")"
ok "pre-commit try-repo: the clodo-assess hook fails on a broken config and says why"
echo 'export default { fetch() { return new Response("ok") } }' >"$repo/api/src/index.ts"
git -C "$repo" add -A
hook || fail "pre-commit failed a fixed config: $(cat "$tmp/pre-commit.log")"
ok "pre-commit try-repo: the hook passes once the config is fixed"

echo "ci-templates: $passed checks passed"
