// Browser tests of the dashboard in Debian's Chromium (playwright-core), against the real
// local Worker started by tests/e2e.sh (CLODO_E2E_URL) and the built dashboard served as Pages
// serves it, with its Content-Security-Policy (CLODO_DASHBOARD_URL). Each test seeds its own
// team through the public API. Screenshots go to target/test-output/dashboard/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  api, dashboard, shots, call, seedTeam, newPage, signIn, seriousViolations, launch, close,
  SCRIPT_PAYLOAD, ATTR_PAYLOAD,
} from "./support.mjs";

before(launch);
after(close);

test("the dashboard shows the live control plane's readiness and version", async () => {
  const page = await newPage();
  await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}`);
  const connection = page.locator("#connection");
  await connection.filter({ hasText: "ready" }).waitFor({ timeout: 15000 });
  assert.match(await connection.textContent(), /: ready$/);
  assert.equal(await connection.getAttribute("class"), "ok");
  const version = await (await fetch(`${api}/api/v1/version`)).json();
  await page.locator("footer").filter({ hasText: version.version }).waitFor();
  assert.match(await page.locator("footer").textContent(), new RegExp(`schema ${version.schema_version}`));
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/sign-in.png`, fullPage: true });
  if (process.env.CLODO_SCREENSHOT) await page.screenshot({ path: process.env.CLODO_SCREENSHOT, fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("the dashboard says clearly when the API cannot be reached", async () => {
  const page = await newPage();
  // Port 9 (discard) on loopback: nothing listens, so the fetch fails fast.
  await page.goto(`${dashboard}/?api=${encodeURIComponent("http://127.0.0.1:9")}`);
  const connection = page.locator("#connection.bad");
  await connection.waitFor({ timeout: 15000 });
  assert.match(await connection.textContent(), /Cannot reach the API at http:\/\/127\.0\.0\.1:9/);
  await page.close();
});

test("a browser origin the Worker does not list gets no CORS grant", async () => {
  const response = await fetch(`${api}/api/v1/version`, { headers: { origin: "https://evil.example" } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("access-control-allow-origin"), null);
  const allowed = await fetch(`${api}/api/v1/version`, { headers: { origin: dashboard } });
  assert.equal(allowed.headers.get("access-control-allow-origin"), dashboard);
});

test("the site is served with a strict Content-Security-Policy, as on Pages", async () => {
  const response = await fetch(`${dashboard}/`);
  const csp = response.headers.get("content-security-policy");
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(response.headers.get("x-frame-options"), "DENY");
});

test("a wrong token is refused at sign-in and nothing is kept", async () => {
  const page = await newPage();
  await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}#/`);
  await page.getByLabel("API token").fill("clodo_not_a_real_token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor({ timeout: 15000 });
  assert.match(await page.getByRole("alert").textContent(), /Sign in again|token/i);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("clodo.token")), null);
  assert.equal(await page.evaluate(() => localStorage.getItem("clodo.token")), null);
  await page.close();
});

test("sign in, see environments and history, filter it, approve through the dialog; user text stays text", async () => {
  const { admin, bob } = await seedTeam();
  // Three deployments: two to staging (queued, then cancelled) and one awaiting approval in
  // production whose message carries an HTML-injection payload.
  const queued = await call(admin, "POST", "/api/v1/deployments", {
    project: "shop", environment: "staging", git_sha: "1111111aaaa", message: "first",
  });
  const cancelled = await call(admin, "POST", "/api/v1/deployments", {
    project: "shop", environment: "staging", git_sha: "2222222bbbb", message: "second",
  });
  await call(admin, "POST", `/api/v1/deployments/${cancelled.id}/transitions`, { to: "cancelled" });
  const pending = await call(admin, "POST", "/api/v1/deployments", {
    project: "shop", environment: "production", git_sha: "3333333cccc", message: `risky ${ATTR_PAYLOAD} ${SCRIPT_PAYLOAD}`,
  });
  assert.equal(pending.status, "awaiting_approval");

  const page = await newPage();
  await signIn(page, bob);
  // The token is kept for this tab only.
  assert.ok(await page.evaluate(() => sessionStorage.getItem("clodo.token")));
  assert.equal(await page.evaluate(() => localStorage.getItem("clodo.token")), null);

  // Overview: both environments, each with its last deployment.
  await page.locator('tr[data-env="shop/production"]').waitFor({ timeout: 15000 });
  assert.match(await page.locator('tr[data-env="shop/production"]').textContent(), /awaiting approval/);
  assert.match(await page.locator('tr[data-env="shop/staging"]').textContent(), /cancelled/);
  assert.match(await page.locator("main").textContent(), /Shop <script>window.__pwned = 'script'<\/script>/);
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });

  // History: all three, newest first; the status filter asks the server.
  await page.getByRole("link", { name: "History", exact: true }).click();
  const rows = page.locator("#history tbody tr");
  await rows.first().waitFor({ timeout: 15000 });
  assert.deepEqual(await rows.evaluateAll((r) => r.map((x) => x.dataset.id)), [pending.id, cancelled.id, queued.id]);
  assert.match(await rows.first().textContent(), /risky "><img src=x onerror=/);
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/history.png`, fullPage: true });
  await page.getByLabel("Status").selectOption("queued");
  await page.waitForFunction(
    (id) => [...document.querySelectorAll("#history tbody tr")].map((r) => r.dataset.id).join() === id,
    queued.id,
    { timeout: 15000 },
  );
  assert.match(page.url(), /status=queued/);

  // The pending deployment: approve through the confirmation dialog, with a comment.
  await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}#/deployments/${pending.id}`);
  await page.getByRole("button", { name: "Approve…" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  await dialog.getByLabel("Comment").fill(`looks fine ${ATTR_PAYLOAD}`);
  await page.screenshot({ path: `${shots}/approve-dialog.png`, fullPage: true });
  await dialog.getByRole("button", { name: "Approve" }).click();
  await page.locator("#deployment-title").filter({ hasText: "queued" }).waitFor({ timeout: 15000 });
  assert.match(await page.locator(".approvals").textContent(), /looks fine "><img src=x onerror=/);
  await page.screenshot({ path: `${shots}/deployment.png`, fullPage: true });

  // The server recorded exactly one approval, by bob, and no script ran at any point.
  const detail = await call(admin, "GET", `/api/v1/deployments/${pending.id}`);
  assert.equal(detail.status, "queued");
  assert.equal(detail.approvals.length, 1);
  assert.match(detail.approvals[0].actor, /^member:bob@/);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a viewer sees no approve button and the audit log reads back what happened", async () => {
  const { admin, slug } = await seedTeam();
  await call(admin, "POST", "/api/v1/members", { email: `vic@${slug}.test`, role: "viewer" });
  const viewer = (await call(admin, "POST", "/api/v1/tokens", { name: "vic", role: "viewer", member_email: `vic@${slug}.test` })).secret;
  const pending = await call(admin, "POST", "/api/v1/deployments", { project: "shop", environment: "production" });
  const page = await newPage();
  await signIn(page, viewer);
  await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}#/deployments/${pending.id}`);
  await page.locator("#deployment-title").filter({ hasText: "awaiting approval" }).waitFor({ timeout: 15000 });
  assert.equal(await page.getByRole("button", { name: "Approve…" }).count(), 0);
  await page.getByRole("link", { name: "Audit", exact: true }).click();
  await page.locator("main table tbody tr").first().waitFor({ timeout: 15000 });
  assert.match(await page.locator("main table").textContent(), /policy|member|token/);
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/audit.png`, fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a call whose answer the network lost is sent again and done once", async () => {
  const { admin, bob } = await seedTeam();
  const pending = await call(admin, "POST", "/api/v1/deployments", {
    project: "shop", environment: "production", git_sha: "4444444dddd", message: "lossy",
  });
  const page = await newPage();
  // The first read of the deployment never gets an answer; the first approval reaches the
  // Worker and is done there, but its answer is lost on the way back.
  const seen = [];
  let dropRead = true;
  await page.route(`**/api/v1/deployments/${pending.id}`, async (route) => {
    if (route.request().method() === "GET" && dropRead) {
      dropRead = false;
      seen.push("GET dropped");
      return route.abort("connectionreset");
    }
    return route.continue();
  });
  let loseAnswer = true;
  await page.route(`**/api/v1/deployments/${pending.id}/approvals`, async (route) => {
    const request = route.request();
    if (request.method() !== "POST") return route.continue();
    const key = request.headers()["idempotency-key"];
    const answer = await route.fetch();
    seen.push(`POST ${key} ${answer.status()} ${answer.headers()["idempotent-replayed"] ?? "first"}`);
    if (loseAnswer) {
      loseAnswer = false;
      return route.abort("connectionreset");
    }
    return route.fulfill({ response: answer });
  });
  await signIn(page, bob);
  await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}#/deployments/${pending.id}`);
  await page.getByRole("button", { name: "Approve…" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  await dialog.getByRole("button", { name: "Approve" }).click();
  await page.locator("#deployment-title").filter({ hasText: "queued" }).waitFor({ timeout: 15000 });

  // The read was sent again; the approval twice with one key, the second answered from the
  // first (replayed); the server has one approval.
  assert.equal(seen[0], "GET dropped");
  const posts = seen.filter((s) => s.startsWith("POST"));
  assert.equal(posts.length, 2, seen.join("\n"));
  const [first, second] = posts.map((s) => s.split(" "));
  assert.equal(first[1], second[1], "one idempotency key for both attempts");
  assert.match(first[2], /^20[01]$/, seen.join("\n"));
  assert.deepEqual([first[3], second[2], second[3]], ["first", first[2], "true"], seen.join("\n"));
  const detail = await call(admin, "GET", `/api/v1/deployments/${pending.id}`);
  assert.equal(detail.approvals.length, 1);
  // The two aborted requests are the only errors.
  assert.deepEqual(page.errors.filter((e) => e !== "Failed to load resource: net::ERR_CONNECTION_RESET"), []);
  await page.close();
});

test("the metrics view reads DORA figures and the daily chart from the server", async () => {
  const { admin } = await seedTeam();
  const lock = "/api/v1/projects/shop/environments/staging/lock";
  // Two successes and one failure in staging, each committed an hour before it was asked for.
  for (const end of ["succeeded", "succeeded", "failed"]) {
    const d = await call(admin, "POST", "/api/v1/deployments", {
      project: "shop", environment: "staging", git_sha: "abc", git_committed_at: Date.now() - 3_600_000,
    });
    await call(admin, "POST", `${lock}/acquire`, { holder_id: d.id });
    for (const to of ["deploying", "verifying", end]) {
      await call(admin, "POST", `/api/v1/deployments/${d.id}/transitions`, { to });
    }
  }
  const page = await newPage();
  await signIn(page, admin);
  await page.getByRole("link", { name: "Metrics", exact: true }).click();
  await page.getByLabel("Project").fill("shop");
  await page.getByLabel("Project").press("Tab");
  await page.getByLabel("Environment").fill("staging");
  await page.getByLabel("Environment").press("Tab");
  const card = (metric) => page.locator(`[data-metric="${metric}"]`);
  await card("change_fail_rate").waitFor({ timeout: 15000 });
  assert.match(await card("change_fail_rate").textContent(), /33\.3%.*from 3 deployments/);
  assert.match(await card("success_rate").textContent(), /66\.7%/);
  assert.match(await card("change_lead_time").textContent(), /(59|60|61) min/);
  // Each card marks DORA's four bands, the figure's own one current.
  const band = (metric) => card(metric).locator(".bands [aria-current]").textContent();
  assert.equal(await band("change_fail_rate"), "low");
  assert.equal(await band("change_lead_time"), "elite");
  assert.equal(await card("change_lead_time").locator(".bands li").count(), 4);
  assert.match(await card("failed_deployment_recovery_time").textContent(), /not measured.*1 failed deployment/);
  assert.equal(await page.locator(".chart canvas").count(), 1);
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/metrics.png`, fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("an assessment report groups findings by service and severity with copyable fixes", async () => {
  const { admin } = await seedTeam({ stagingAccount: "acc_shop" });
  await call(admin, "POST", "/api/v1/credentials", { account_id: "acc_shop", name: "sandbox", api_token: "shop-demo-token" });
  const config = [
    'name = "ui-report-worker"',
    'main = "src/index.ts"',
    'compatibility_date = "2025-09-01"',
    "",
    "[[d1_databases]]",
    'binding = "DB"',
    'database_name = "no-such-db"',
    'database_id = "22222222-2222-4222-8222-222222222222"',
    "",
  ].join("\n");
  const created = await call(admin, "POST", "/api/v1/assessments", { config, project: "shop", environment: "staging" });
  assert.equal(created.report.ready, false);
  const page = await newPage();
  await signIn(page, admin);
  await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}#/assessments/${created.id}`);
  await page.locator("#assessment-title").filter({ hasText: "not ready" }).waitFor({ timeout: 15000 });
  const missing = page.locator('li[data-kind="d1_missing"]');
  await missing.waitFor();
  assert.match(await missing.textContent(), /no-such-db/);
  assert.match(await missing.locator(".fix code").textContent(), /wrangler d1 create no-such-db/);
  assert.match(await page.locator("article").textContent(), /checked against account acc_shop/);
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/assessment.png`, fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});
