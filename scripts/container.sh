#!/usr/bin/env bash
# Builds the clodo container image (Containerfile: FROM scratch, the static binary, CA
# certificates) with podman, or docker when podman is missing, and smoke-tests it: the image
# must print its version and assess a config offline with nothing but what is inside it.
#   bash scripts/container.sh [TAG]      (default clodo:<version>)
# Needs the x86_64 musl binary of scripts/release.sh and Debian's ca-certificates package.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(cargo metadata --no-deps --format-version 1 | jq -r '.packages[] | select(.name == "clodo") | .version')
tag="${1:-clodo:$version}"
binary="target/x86_64-unknown-linux-musl/release/clodo"
[ -x "$binary" ] || { echo "container: $binary is missing: run scripts/release.sh first" >&2; exit 1; }
[ -f /etc/ssl/certs/ca-certificates.crt ] || { echo "container: install Debian's ca-certificates package" >&2; exit 1; }
if command -v podman >/dev/null; then engine=podman; elif command -v docker >/dev/null; then engine=docker; else
  echo "container: neither podman nor docker is installed (apt-get install podman)" >&2
  exit 1
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp Containerfile "$context/"
cp "$binary" "$context/clodo"
cp /etc/ssl/certs/ca-certificates.crt "$context/"
"$engine" build --file "$context/Containerfile" --tag "$tag" "$context"

# Smoke test: the version, then an offline assessment of a config mounted read-only.
if ! reported=$("$engine" run --rm "$tag" --version 2>"$context/run.err"); then
  echo "container: $tag was built, but $engine could not run it: $(tail -n 1 "$context/run.err")" >&2
  exit 1
fi
[ "$(echo "$reported" | awk '{ print $NF }')" = "$version" ] ||
  { echo "container: the image reports '$reported', not version $version" >&2; exit 1; }
project=$(mktemp -d)
printf 'name = "smoke"\nmain = "index.js"\ncompatibility_date = "%s"\n' "$(date -u +%F)" >"$project/wrangler.toml"
echo 'export default { fetch() { return new Response("ok") } }' >"$project/index.js"
"$engine" run --rm -v "$project:/work:ro" "$tag" assess --offline --config wrangler.toml
rm -rf "$project"
echo "container: $tag built and smoke-tested with $engine" >&2
