// What the dashboard's browser tests share: Chromium (Debian's, through playwright-core),
// calls to the local Worker's API, a seeded team, sign-in and axe-core's accessibility check.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { chromium } from "playwright-core";

export const api = process.env.CLODO_E2E_URL;
export const dashboard = process.env.CLODO_DASHBOARD_URL;
export const sandbox = process.env.CLODO_E2E_SANDBOX_URL;
const bootstrap = process.env.CLODO_E2E_BOOTSTRAP_TOKEN ?? "clodo-dev-bootstrap";
export const shots = "target/test-output/dashboard";
const axeSource = readFileSync(new URL("../../frontend/node_modules/axe-core/axe.min.js", import.meta.url), "utf8");
// Text from users that must stay text: if either ran, it would set window.__pwned.
export const SCRIPT_PAYLOAD = "<script>window.__pwned = 'script'</script>";
export const ATTR_PAYLOAD = `"><img src=x onerror="window.__pwned = 'img'">`;
let browser;

export async function launch() {
  assert.ok(api && dashboard, "run through tests/e2e.sh: CLODO_E2E_URL and CLODO_DASHBOARD_URL are unset");
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

export async function close() {
  await browser?.close();
}

/** One JSON call to the API; fails the test unless the status is one of `expect`. */
export async function call(token, method, path, body, expect = [200, 201]) {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok([expect].flat().includes(response.status), `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A fresh team with project `shop` (named with a script payload) and a `production`
 *  environment that needs one approval, plus `staging` (bound to `stagingAccount` when
 *  given); its admin's and an approver's tokens. */
export async function seedTeam({ stagingAccount = null } = {}) {
  const slug = `ui-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const created = await call(bootstrap, "POST", "/api/v1/teams", { slug, name: "UI", admin_email: `admin@${slug}.test` });
  const admin = created.token.secret;
  await call(admin, "POST", "/api/v1/projects", { slug: "shop", name: `Shop ${SCRIPT_PAYLOAD}` });
  await call(admin, "POST", "/api/v1/projects/shop/environments", { name: "production" });
  await call(admin, "POST", "/api/v1/projects/shop/environments", { name: "staging", cloudflare_account_id: stagingAccount });
  await call(admin, "PUT", "/api/v1/projects/shop/environments/production/policy", { required_approvals: 1 });
  await call(admin, "POST", "/api/v1/members", { email: `bob@${slug}.test`, role: "approver" });
  const bob = (await call(admin, "POST", "/api/v1/tokens", { name: "bob", role: "approver", member_email: `bob@${slug}.test` })).secret;
  return { admin, bob, slug };
}

/** The paths whose CORS preflight `wrangler dev`'s proxy answered 503 so far: its answer
 *  when its own connection to workerd fails ("Your worker restarted mid-request"), which no
 *  deployed Worker gives (tests/e2e.sh, docs/reliability.md). */
function proxyFailedPreflights() {
  const log = process.env.CLODO_E2E_WORKER_LOG;
  if (!log) return new Set();
  let text = "";
  try {
    text = readFileSync(log, "utf8");
  } catch {
    return new Set();
  }
  return new Set([...text.matchAll(/\] OPTIONS (\S+) 503 /g)].map((m) => m[1]));
}

const PREFLIGHT_FAILED = /^Access to fetch at '([^']+)' from origin '[^']+' has been blocked by CORS policy: Response to preflight request doesn't pass access control check/;

/** A new page that records script errors and failed loads (`page.errors`). Read at the end
 *  of a test, `page.errors` leaves out a preflight that `wrangler dev`'s proxy failed (its
 *  503 is in the Worker's log for that path) and the failed load the browser logs with it:
 *  the dashboard sends such a call again, and the test's own checks of the page show whether
 *  that worked. Every other error stays, and what was left out is printed. */
export async function newPage() {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  Object.defineProperty(page, "errors", {
    get() {
      const failed = proxyFailedPreflights();
      const kept = [];
      let skipNextLoad = false;
      for (const error of errors) {
        const preflight = PREFLIGHT_FAILED.exec(error);
        if (preflight && failed.has(new URL(preflight[1]).pathname)) {
          console.error(`left out (wrangler dev's proxy answered this preflight 503): ${error}`);
          skipNextLoad = true;
          continue;
        }
        if (skipNextLoad && error === "Failed to load resource: net::ERR_FAILED") {
          skipNextLoad = false;
          continue;
        }
        skipNextLoad = false;
        kept.push(error);
      }
      return kept;
    },
  });
  return page;
}

export async function signIn(page, token) {
  await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}#/`);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  // 30 s: a loaded CI machine took longer than 15 s to paint the signed-in page.
  await page.getByRole("button", { name: "Sign out" }).waitFor({ timeout: 30000 });
}

/** axe-core's serious and critical findings on the page as it is now. */
export async function seriousViolations(page) {
  // evaluate() runs through the DevTools protocol, so the page's CSP does not block axe.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}
