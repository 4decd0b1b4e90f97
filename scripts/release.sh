#!/usr/bin/env bash
# Builds the release artefacts a pipeline downloads: static `clodo` binaries (musl) as
# clodo-<version>-<target>.tar.gz, and SHA256SUMS over them, in dist/release/<version>/.
# x86_64 always; aarch64 when Debian's cross linker (gcc-aarch64-linux-gnu) is installed.
# scripts/install.sh verifies a download against SHA256SUMS. See docs/ci.md.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(cargo metadata --no-deps --format-version 1 | jq -r '.packages[] | select(.name == "clodo") | .version')
out="dist/release/$version"
mkdir -p "$out"

# ring (rustls) compiles C: for musl it needs Debian's musl-gcc (package musl-tools).
if ! command -v musl-gcc >/dev/null; then
  echo "release: installing Debian's musl-tools (musl-gcc, for ring's C code)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get install -y -qq musl-tools >/dev/null
fi
export CC_x86_64_unknown_linux_musl=musl-gcc
# Rust's musl targets bring their own libc and start files (self-contained), so aarch64 needs
# only a cross linker and a C compiler for ring: Debian's gcc-aarch64-linux-gnu is both.
targets=(x86_64-unknown-linux-musl)
if command -v aarch64-linux-gnu-gcc >/dev/null; then
  targets+=(aarch64-unknown-linux-musl)
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
  export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
  export AR_aarch64_unknown_linux_musl=aarch64-linux-gnu-ar
else
  echo "release: aarch64 skipped (install gcc-aarch64-linux-gnu to build it)" >&2
fi
# CLODO_RELEASE_TARGETS="aarch64-unknown-linux-musl" builds only the targets named (of those
# available above); SHA256SUMS still covers every archive of the version in $out.
if [ -n "${CLODO_RELEASE_TARGETS:-}" ]; then
  wanted=()
  for t in $CLODO_RELEASE_TARGETS; do
    printf '%s\n' "${targets[@]}" | grep -qx "$t" ||
      { echo "release: $t cannot be built here (known: ${targets[*]})" >&2; exit 2; }
    wanted+=("$t")
  done
  targets=("${wanted[@]}")
fi

for target in "${targets[@]}"; do
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
  echo "release: building clodo $version for $target" >&2
  # Debian's aarch64 cross gcc compiles C against glibc's headers, which turn open() into
  # open64() (and stat64, pread64, mmap64…) under _FILE_OFFSET_BITS=64, names musl no longer
  # exports: SQLite (the sandbox's store) sets that unless SQLITE_DISABLE_LFS, which changes
  # nothing on a 64-bit target (off_t is 64 bits either way).
  # (Set only for aarch64: a changed value rebuilds SQLite, and x86_64's musl-gcc has musl's
  # own headers.)
  sqlite_env=()
  if [ "$target" = aarch64-unknown-linux-musl ]; then sqlite_env=(LIBSQLITE3_FLAGS=-DSQLITE_DISABLE_LFS); fi
  # musl targets link statically by default (crt-static): the binary runs on any Linux,
  # and in a FROM scratch image.
  env "${sqlite_env[@]}" cargo build --release --locked --bin clodo --target "$target"
  stage=$(mktemp -d)
  cp "target/$target/release/clodo" "$stage/clodo"
  tar -czf "$out/clodo-$version-$target.tar.gz" -C "$stage" clodo
  rm -rf "$stage"
  # What was built, for the record: size and the ELF header (static, the right machine).
  echo "release: $target: $(stat -c %s "target/$target/release/clodo") bytes, $(stat -c %s "$out/clodo-$version-$target.tar.gz") as .tar.gz" >&2
  if command -v file >/dev/null; then file "target/$target/release/clodo" >&2; fi
done

(cd "$out" && sha256sum clodo-*.tar.gz >SHA256SUMS)
echo "release: artefacts in $out:" >&2
cat "$out/SHA256SUMS" >&2
