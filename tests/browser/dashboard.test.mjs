// Browser tests of the dashboard in Debian's Chromium (playwright-core), against the real
// local Worker started by tests/e2e.sh (CLODO_E2E_URL) and the dashboard server
// (CLODO_DASHBOARD_URL).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const api = process.env.CLODO_E2E_URL;
const dashboard = process.env.CLODO_DASHBOARD_URL;
let browser;

before(async () => {
  assert.ok(api && dashboard, "run through tests/e2e.sh: CLODO_E2E_URL and CLODO_DASHBOARD_URL are unset");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
});

test("the dashboard shows the live control plane's version, schema and readiness", async () => {
  const page = await browser.newPage();
  await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}`);
  const connection = page.locator("#connection");
  await connection.filter({ hasText: "ready" }).waitFor({ timeout: 15000 });
  assert.match(await connection.textContent(), /: ready$/);
  assert.equal(await connection.getAttribute("class"), "ok");

  const version = await (await fetch(`${api}/api/v1/version`)).json();
  assert.equal(await page.locator('dd[data-field="version"]').textContent(), version.version);
  assert.equal(await page.locator('dd[data-field="schema_version"]').textContent(), version.schema_version);

  const rows = page.locator("#checks tbody tr");
  assert.equal(await rows.count(), 3);
  for (const state of await page.locator("#checks tbody td.ok").allTextContents()) {
    assert.equal(state, "ready");
  }
  assert.equal(await page.locator("#checks tbody td.ok").count(), 3);
  if (process.env.CLODO_SCREENSHOT) await page.screenshot({ path: process.env.CLODO_SCREENSHOT, fullPage: true });
  await page.close();
});

test("the dashboard says clearly when the API cannot be reached", async () => {
  const page = await browser.newPage();
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
