# The two commands of the README: `make dev` (the local stack) and `make test` (every test).
# Both run scripts/setup.sh first, which installs what is missing and is a no-op otherwise.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
export WRANGLER_SEND_METRICS := false
export CLOUDFLARE_CF_FETCH_ENABLED := false

.PHONY: dev test setup setup-test lint unit ci-templates e2e build bench

setup:
	@bash scripts/setup.sh

# The tests also need Debian's Chromium for the dashboard's browser tests.
setup-test:
	@CLODO_SETUP_BROWSER=1 bash scripts/setup.sh

dev: setup
	@bash scripts/dev.sh

test: setup-test lint unit ci-templates e2e

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings

unit:
	cargo test --workspace

# The GitHub Action, GitLab template, CircleCI orb and pre-commit hook (docs/ci.md).
ci-templates:
	bash tests/ci_templates.sh

e2e:
	bash tests/e2e.sh

build: setup
	bash scripts/build-worker.sh

# One table of every figure with its target (docs/performance.md); the dashboard's render time
# in Chromium is apart: bash bench/history-render.sh.
bench: setup
	bash bench/run
