#!/usr/bin/env bash
# The shell steps of the Clodo GitHub Action (action.yml at the repository root), kept in a
# script so tests run them with a fake GITHUB_OUTPUT / GITHUB_STEP_SUMMARY (tests/ci_templates.sh).
#
#   github-action.sh install   installs the pinned clodo release (unless the cache restored it)
#   github-action.sh assess    annotations, a job summary and outputs from one assessment
#   github-action.sh deploy    clodo deploy, with the deployment and version ids as outputs
#
# Inputs arrive as INPUT_* variables set by action.yml.
set -euo pipefail

step="${1:?usage: github-action.sh install|assess|deploy}"
: "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set: this runs as a step of GitHub Actions}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
work="${RUNNER_TEMP:-${TMPDIR:-/tmp}}"

output() { printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"; }
is_true() { [ "${1:-false}" = true ]; }

# The config arguments shared by assess and deploy.
config_args() {
  args=()
  if [ -n "${INPUT_CONFIG:-}" ]; then args+=(--config "$INPUT_CONFIG"); fi
  if [ -n "${INPUT_PROJECT:-}" ]; then args+=(--project "$INPUT_PROJECT"); fi
  if [ -n "${INPUT_ENVIRONMENT:-}" ]; then args+=(--env "$INPUT_ENVIRONMENT"); fi
  if is_true "${INPUT_ALLOW_INCONCLUSIVE:-}"; then args+=(--allow-inconclusive); fi
}

case "$step" in
  install)
    version="${INPUT_VERSION#v}"
    [ -n "$version" ] || { echo "::error title=clodo::the 'version' input is required (e.g. version: 0.1.0)"; exit 1; }
    dir="$HOME/.clodo/bin/$version"
    if [ -x "$dir/clodo" ]; then
      echo "clodo $version restored from the cache" >&2
    else
      sh "$here/scripts/install.sh" --version "$version" --dir "$dir"
    fi
    echo "$dir" >>"${GITHUB_PATH:-/dev/null}"
    ;;

  assess)
    config_args
    if is_true "${INPUT_OFFLINE:-}"; then args+=(--offline); fi
    report="$work/clodo-assess.json"
    rm -f "$report"
    status=0
    clodo assess "${args[@]}" --format github \
      --also "json=$report" --also "markdown=${GITHUB_STEP_SUMMARY:-/dev/null}" || status=$?
    if [ ! -f "$report" ]; then
      # Exit 2 before any report: nothing could be assessed (the error is in the log above).
      output ready false
      output findings 0
      output errors 0
      output warnings 0
      exit "$status"
    fi
    output ready "$(jq -r '.ready' "$report")"
    output findings "$(jq -r '.findings | length' "$report")"
    output errors "$(jq -r '[.findings[] | select(.severity == "error")] | length' "$report")"
    output warnings "$(jq -r '[.findings[] | select(.severity == "warning")] | length' "$report")"
    output report "$report"
    if [ "$status" -ne 0 ] && ! is_true "${INPUT_FAIL_ON_NOT_READY:-true}"; then
      echo "clodo assess: not ready (exit $status); continuing because fail-on-not-ready is false" >&2
      exit 0
    fi
    exit "$status"
    ;;

  deploy)
    [ -n "${INPUT_ENVIRONMENT:-}" ] || { echo "::error title=clodo deploy::the 'environment' input is required to deploy"; exit 1; }
    [ -z "${INPUT_CONFIG:-}" ] || { echo "::error title=clodo deploy::deploy reads a clodo.toml: set 'project' (a single wrangler 'config' can only be assessed)"; exit 1; }
    config_args
    args+=(--yes --json)
    if [ -n "${INPUT_STRATEGY:-}" ]; then args+=(--strategy "$INPUT_STRATEGY"); fi
    if is_true "${INPUT_PREVIEW:-}"; then args+=(--preview); fi
    if [ -n "${INPUT_MESSAGE:-}" ]; then args+=(--message "$INPUT_MESSAGE"); fi
    if [ -n "${GITHUB_SHA:-}" ]; then args+=(--git-sha "$GITHUB_SHA"); fi
    if [ -n "${GITHUB_REF_NAME:-}" ]; then args+=(--git-ref "$GITHUB_REF_NAME"); fi
    result="$work/clodo-deploy.json"
    status=0
    clodo deploy "${args[@]}" >"$result" || status=$?
    if jq -e . "$result" >/dev/null 2>&1; then
      output deployment-id "$(jq -r '.deployment_id // .deployment.id // empty' "$result")"
      output version-ids "$(jq -c '[.services[]? | {key: .service, value: .new_version}] | from_entries' "$result")"
    fi
    exit "$status"
    ;;

  *)
    echo "github-action.sh: unknown step '$step' (install, assess or deploy)" >&2
    exit 2
    ;;
esac
