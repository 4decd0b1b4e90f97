#!/bin/sh
# Installs a released `clodo` binary after checking its SHA-256 against the release's
# SHA256SUMS; refuses to install anything that does not match. POSIX sh, for CI images.
#
#   sh install.sh --version 0.1.0 [--dir ~/.local/bin]
#
# CLODO_DOWNLOAD_BASE overrides where the release files are fetched from (a mirror, or a
# local server in tests); by default the GitHub release of that version.
set -eu

fail() {
  echo "clodo install: $*" >&2
  exit 1
}

version=""
dir="${HOME:-/root}/.local/bin"
while [ $# -gt 0 ]; do
  case "$1" in
    --version) [ $# -ge 2 ] || fail "--version needs a value (e.g. --version 0.1.0)"; version="${2#v}"; shift 2 ;;
    --dir) [ $# -ge 2 ] || fail "--dir needs a folder"; dir="$2"; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) fail "unknown argument '$1' (use --version V [--dir D])" ;;
  esac
done
[ -n "$version" ] || fail "say which version to install: --version 0.1.0 (pin it; there is no 'latest')"

[ "$(uname -s)" = Linux ] || fail "release binaries are built for Linux only; on $(uname -s) build from source: cargo install --git https://github.com/clodo-dev/clodo clodo"
case "$(uname -m)" in
  x86_64 | amd64) target=x86_64-unknown-linux-musl ;;
  aarch64 | arm64) target=aarch64-unknown-linux-musl ;;
  *) fail "no release binary for $(uname -m); build from source with cargo" ;;
esac

base="${CLODO_DOWNLOAD_BASE:-https://github.com/clodo-dev/clodo/releases/download/v$version}"
asset="clodo-$version-$target.tar.gz"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

fetch() {
  curl --fail --silent --show-error --location --retry 3 --output "$2" "$1" ||
    fail "could not download $1"
}
fetch "$base/SHA256SUMS" "$tmp/SHA256SUMS"
fetch "$base/$asset" "$tmp/$asset"

expected=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1 }' "$tmp/SHA256SUMS")
[ -n "$expected" ] || fail "SHA256SUMS of $version lists no $asset"
if command -v sha256sum >/dev/null; then
  actual=$(sha256sum "$tmp/$asset" | awk '{ print $1 }')
else
  actual=$(shasum -a 256 "$tmp/$asset" | awk '{ print $1 }')
fi
[ "$expected" = "$actual" ] ||
  fail "checksum mismatch for $asset: SHA256SUMS says $expected, the download is $actual; nothing was installed"

tar -xzf "$tmp/$asset" -C "$tmp" clodo || fail "$asset holds no clodo binary"
mkdir -p "$dir"
cp "$tmp/clodo" "$dir/clodo.new"
chmod 755 "$dir/clodo.new"
installed=$("$dir/clodo.new" --version 2>/dev/null | awk '{ print $NF }') || true
if [ "$installed" != "$version" ]; then
  rm -f "$dir/clodo.new"
  fail "the binary in $asset says it is version '${installed:-?}', not $version; nothing was installed"
fi
mv "$dir/clodo.new" "$dir/clodo"
echo "clodo $version installed at $dir/clodo" >&2
