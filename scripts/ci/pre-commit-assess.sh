#!/usr/bin/env bash
# The `clodo-assess` pre-commit hook (.pre-commit-hooks.yaml): runs `clodo assess --offline` on
# each changed config pre-commit passes (a clodo.toml as a project, a wrangler config on its
# own) and fails when any of them is not ready. Human output, no colour.
set -uo pipefail

if ! command -v clodo >/dev/null; then
  echo "clodo-assess: the clodo binary is not on PATH; install it (docs/ci.md#pre-commit) and commit again" >&2
  exit 1
fi
export NO_COLOR=1
failed=0
for file in "$@"; do
  case "$(basename "$file")" in
    clodo.toml) args=(--project "$file") ;;
    *) args=(--config "$file") ;;
  esac
  echo "clodo assess --offline ${args[*]}"
  if ! clodo assess --offline "${args[@]}"; then failed=1; fi
done
exit "$failed"
