#!/usr/bin/env bash
# Deploys Clodo itself to a Cloudflare account in one command (docs/self-host.md):
#   1. the D1 database, created if the account does not have it (wrangler d1 list / create);
#   2. the Pages project for the dashboard, created if missing (wrangler pages project create);
#   3. a wrangler config generated from wrangler.toml with that database's id, the account's
#      URLs and no [build] (written to $OUT_DIR/wrangler.toml);
#   4. the D1 migrations (wrangler d1 migrations apply --remote);
#   5. the Worker with its Durable Objects (wrangler deploy);
#   6. the secrets CLODO_BOOTSTRAP_TOKEN and CLODO_ENCRYPTION_KEY, from the environment or
#      prompted for on a terminal (wrangler secret put);
#   7. the dashboard, built for the Worker's URL into $OUT_DIR/dashboard (frontend/dist, the
#      `make dev` build, is left alone), to Pages (wrangler pages deploy).
# Running it again is safe: what exists is reused, applied migrations are skipped, and the
# Worker and dashboard get new versions.
#
# Usage: scripts/self-host.sh --account ACCOUNT_ID [--name clodo] [--database clodo]
#          [--pages-project clodo-dashboard] [--no-worker-build] [--out-dir .wrangler/self-host]
# Needs CLOUDFLARE_API_TOKEN (Workers Scripts, D1, Pages edit on the account); honours
# CLOUDFLARE_API_BASE_URL (the sandbox: docs/sandbox.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

usage() { awk '/^# Usage/ { on = 1 } /^set -e/ { exit } on { sub(/^# ?/, ""); print }' "$0" >&2; }
die() {
  echo "self-host: $*" >&2
  exit 1
}

ACCOUNT=${CLOUDFLARE_ACCOUNT_ID:-}
NAME=clodo
DATABASE=""
PAGES_PROJECT=""
BUILD_WORKER=true
OUT_DIR=.wrangler/self-host
while [ $# -gt 0 ]; do
  case "$1" in
    --account) ACCOUNT=${2:?--account needs an account id}; shift 2 ;;
    --name) NAME=${2:?--name needs a Worker name}; shift 2 ;;
    --database) DATABASE=${2:?--database needs a database name}; shift 2 ;;
    --pages-project) PAGES_PROJECT=${2:?--pages-project needs a project name}; shift 2 ;;
    --no-worker-build) BUILD_WORKER=false; shift ;;
    --out-dir) OUT_DIR=${2:?--out-dir needs a folder}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown argument '$1'" ;;
  esac
done
DATABASE=${DATABASE:-$NAME}
PAGES_PROJECT=${PAGES_PROJECT:-$NAME-dashboard}
[ -n "$ACCOUNT" ] || { usage; die "no account: pass --account ACCOUNT_ID (or set CLOUDFLARE_ACCOUNT_ID)"; }
[ -n "${CLOUDFLARE_API_TOKEN:-}" ] || die "CLOUDFLARE_API_TOKEN is not set: create a token with Workers Scripts, D1 and Cloudflare Pages edit permissions on account $ACCOUNT and export it"
case "$NAME" in *[!a-z0-9-]* | -* | "") die "--name '$NAME': a Worker name is lowercase letters, digits and dashes" ;; esac
API=${CLOUDFLARE_API_BASE_URL:-https://api.cloudflare.com/client/v4}
export CLOUDFLARE_ACCOUNT_ID=$ACCOUNT WRANGLER_SEND_METRICS=false
# wrangler asks before applying migrations on a terminal; this script has decided already.
export CI=true

WRANGLER="$ROOT/node_modules/.bin/wrangler"
[ -x "$WRANGLER" ] || die "wrangler is not installed: run 'npm ci' in $ROOT first (or 'make dev' once)"
command -v node >/dev/null || die "node is not on PATH (Node 20+ is needed)"
step() { echo "self-host: $*" >&2; }

# GET on the Cloudflare API: the JSON answer, or nothing with the HTTP status on stderr.
cf_get() {
  curl -sS -H "authorization: Bearer $CLOUDFLARE_API_TOKEN" -w '\n%{http_code}' "$API$1" |
    node -e '
      const lines = require("fs").readFileSync(0, "utf8").trimEnd().split("\n");
      const status = lines.pop();
      if (status === "200") process.stdout.write(lines.join("\n"));
      else { process.stderr.write(`HTTP ${status}: ${lines.join("\n")}\n`); process.exit(status === "404" ? 4 : 1); }'
}
# A field of the JSON on stdin (a path like result.subdomain); empty when absent.
field() { node -e 'let v = JSON.parse(require("fs").readFileSync(0, "utf8")); for (const k of process.argv[1].split(".")) v = v?.[k]; process.stdout.write(v == null ? "" : String(v))' "$1"; }

# --- 0. the secrets' values, before anything changes ----------------------------------
# From the environment, else asked for on a terminal (Enter generates one, shown once). A
# secret the Worker has already keeps its value when none is given; CLODO_ENCRYPTION_KEY is
# never replaced: the stored credentials are encrypted with it (rotating it is the procedure
# in docs/operations.md, which re-encrypts them).
VALUE_CLODO_BOOTSTRAP_TOKEN=""
VALUE_CLODO_ENCRYPTION_KEY=""
EXISTING=""
# A Worker that does not exist yet (404) has no secrets.
if SECRETS_JSON=$(cf_get "/accounts/$ACCOUNT/workers/scripts/$NAME/secrets" 2>/dev/null); then
  EXISTING=$(node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")).result || []; process.stdout.write(r.map((s) => s.name).join(" "))' <<<"$SECRETS_JSON")
fi
has_secret() { case " $EXISTING " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
ask_secret() {
  local var=$1 what=$2 value=${!1:-}
  if [ -z "$value" ] && [ -t 0 ]; then
    read -r -s -p "$var ($what; Enter to generate one): " value </dev/tty
    echo >&2
  fi
  if [ -z "$value" ]; then
    [ -t 0 ] || die "$var is not set: export it (or run on a terminal to be asked); $what"
    value=$(node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64"))')
    echo "self-host: generated $var, shown once; keep it somewhere safe: $value" >&2
  fi
  # bash 3 (macOS) has no associative arrays: one variable per secret.
  printf -v "VALUE_$var" %s "$value"
}
if [ -n "${CLODO_BOOTSTRAP_TOKEN:-}" ] || ! has_secret CLODO_BOOTSTRAP_TOKEN; then
  ask_secret CLODO_BOOTSTRAP_TOKEN "the operator secret that creates teams"
fi
if has_secret CLODO_ENCRYPTION_KEY; then
  [ -z "${CLODO_ENCRYPTION_KEY:-}" ] ||
    step "the Worker has CLODO_ENCRYPTION_KEY already: not replaced (the stored credentials are encrypted with it; see docs/operations.md to rotate it)"
else
  ask_secret CLODO_ENCRYPTION_KEY "32 random bytes in base64 that encrypt stored credentials; losing it loses them"
  node -e 'if (Buffer.from(process.argv[1], "base64").length !== 32) process.exit(1)' "$VALUE_CLODO_ENCRYPTION_KEY" ||
    die "CLODO_ENCRYPTION_KEY must be 32 bytes in base64 (e.g. openssl rand -base64 32)"
fi

# --- 1. the D1 database ---------------------------------------------------------------
database_id() {
  "$WRANGLER" d1 list --json | node -e '
    const list = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const db = list.find((d) => d.name === process.argv[1]);
    process.stdout.write(db ? db.uuid : "")' "$DATABASE"
}
DB_ID=$(database_id) || die "could not list the account's D1 databases (is the token allowed to read D1 on $ACCOUNT?)"
if [ -z "$DB_ID" ]; then
  step "creating D1 database $DATABASE"
  "$WRANGLER" d1 create "$DATABASE" >&2
  DB_ID=$(database_id)
  [ -n "$DB_ID" ] || die "wrangler d1 create $DATABASE succeeded but the database is not listed"
else
  step "D1 database $DATABASE exists ($DB_ID)"
fi

# --- 2. the Pages project -------------------------------------------------------------
if PROJECT_JSON=$(cf_get "/accounts/$ACCOUNT/pages/projects/$PAGES_PROJECT" 2>/dev/null); then
  step "Pages project $PAGES_PROJECT exists"
else
  step "creating Pages project $PAGES_PROJECT"
  "$WRANGLER" pages project create "$PAGES_PROJECT" --production-branch main >&2
  PROJECT_JSON=$(cf_get "/accounts/$ACCOUNT/pages/projects/$PAGES_PROJECT")
fi
PAGES_HOST=$(field result.subdomain <<<"$PROJECT_JSON")
[ -n "$PAGES_HOST" ] || die "the Pages project $PAGES_PROJECT has no subdomain in the API's answer"
DASHBOARD_URL="https://$PAGES_HOST"

# The account's workers.dev subdomain names the Worker's URL (the dashboard calls it).
SUBDOMAIN=$(cf_get "/accounts/$ACCOUNT/workers/subdomain" | field result.subdomain) ||
  die "the account has no workers.dev subdomain: choose one in the dashboard (Workers & Pages → Overview) first"
WORKER_URL="https://$NAME.$SUBDOMAIN.workers.dev"

# --- 3. the generated wrangler config -------------------------------------------------
# wrangler.toml's top level (before any [env.*]) is the source of truth for the Durable
# Objects, their migrations and the cron; what differs per installation is replaced here.
mkdir -p "$OUT_DIR"
CONFIG="$OUT_DIR/wrangler.toml"
awk -v root="$ROOT" -v name="$NAME" -v db="$DATABASE" -v id="$DB_ID" -v api="https://api.cloudflare.com/client/v4" \
  -v origins="$DASHBOARD_URL" '
  BEGIN { print "# Generated by scripts/self-host.sh from wrangler.toml: do not edit, run the script again." }
  /^\[env\./ { exit }
  /^\[/ { section = $0 }
  section == "[build]" { next }
  section == "[vars]" {
    if ($0 == "[vars]") {
      print; print "CLOUDFLARE_API_BASE_URL = \"" api "\""; print "CLODO_ENVIRONMENT = \"production\""
      print "DASHBOARD_ORIGINS = \"" origins "\""
    }
    next
  }
  /^name = / { print "name = \"" name "\""; next }
  /^main = / { print "main = \"" root "/build/index.js\""; next }
  /^database_name = / { print "database_name = \"" db "\""; next }
  /^database_id = / { print "database_id = \"" id "\""; next }
  /^migrations_dir = / { print "migrations_dir = \"" root "/migrations\""; next }
  { print }
' wrangler.toml >"$CONFIG"
grep -q "^database_id = \"$DB_ID\"" "$CONFIG" || die "could not generate $CONFIG from wrangler.toml (its D1 section changed shape?)"
step "wrote $CONFIG"

# --- 4. migrations, 5. the Worker -----------------------------------------------------
if $BUILD_WORKER; then
  step "building the Worker (scripts/build-worker.sh)"
  bash scripts/build-worker.sh >&2
fi
[ -f build/index.js ] || die "build/index.js is missing: run without --no-worker-build"
step "applying D1 migrations to $DATABASE"
# wrangler prints the whole table once per migration: kept in a log, shown on failure.
"$WRANGLER" d1 migrations apply DB --remote --config "$CONFIG" >"$OUT_DIR/migrations.log" 2>&1 ||
  { cat "$OUT_DIR/migrations.log" >&2; die "applying the migrations failed (above)"; }
grep -E '^(Migrations to be applied|✅ No migrations to apply)' "$OUT_DIR/migrations.log" >&2 || true
step "deploying the Worker $NAME with its Durable Objects"
"$WRANGLER" deploy --config "$CONFIG" >&2

# --- 6. secrets -----------------------------------------------------------------------
for name in CLODO_BOOTSTRAP_TOKEN CLODO_ENCRYPTION_KEY; do
  value_var="VALUE_$name"
  if [ -n "${!value_var}" ]; then
    step "setting secret $name"
    printf %s "${!value_var}" | "$WRANGLER" secret put "$name" --config "$CONFIG" >&2
  else
    step "secret $name is set already; kept"
  fi
done

# --- 7. the dashboard -----------------------------------------------------------------
# Built for this installation: the API's URL is compiled in, and the Content-Security-Policy
# (_headers) allows calls to that origin only.
DIST="$(cd "$OUT_DIR" && pwd)/dashboard"
step "building the dashboard for $WORKER_URL into $DIST"
VITE_CLODO_API_URL=$WORKER_URL CLODO_API_ORIGINS=$WORKER_URL \
  npm --prefix frontend run --silent build -- --outDir "$DIST" --emptyOutDir >&2
[ -f "$DIST/index.html" ] || die "the dashboard build wrote no $DIST/index.html"
step "deploying the dashboard to Pages project $PAGES_PROJECT"
# From frontend/, whose wrangler.toml is the Pages one (the root's is the Worker's).
(cd frontend && "$WRANGLER" pages deploy "$DIST" --project-name "$PAGES_PROJECT" --branch main --commit-dirty=true >&2)

cat <<EOF
Clodo is deployed.
  control plane: $WORKER_URL
  dashboard:     $DASHBOARD_URL
  database:      $DATABASE ($DB_ID)
Create the first team (once):
  curl -X POST $WORKER_URL/api/v1/bootstrap -H "authorization: Bearer \$CLODO_BOOTSTRAP_TOKEN" \\
    -H 'content-type: application/json' -d '{"slug":"acme","name":"Acme","admin_email":"you@example.com"}'
EOF
