// Browser tests of the settings, compare and theme views (Chromium through playwright-core,
// against the local Worker and the built dashboard, as tests/browser/dashboard.test.mjs):
// an admin manages tokens and members through the page and its dialogs, a viewer is not offered
// what the server would refuse, two deployments compare by what they shipped (with performance
// honestly "not measured" where analytics cannot be read), both themes pass axe-core, and user
// text with script payloads stays text everywhere.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  api, dashboard, shots, call, seedTeam, newPage, signIn, seriousViolations, launch, close,
  SCRIPT_PAYLOAD, ATTR_PAYLOAD,
} from "./support.mjs";

before(launch);
after(close);

/** The page's script errors, less Chromium's note for a 404 the page expects and shows as
 *  such: a project without the GitHub integration ("not connected"), a deployment without a
 *  rollout (its transitions were made by hand here). */
const errorsBut404 = (page) => page.errors.filter((e) => !/the server responded with a status of 404/.test(e));

test("an admin manages tokens and members in settings; user text stays text", async () => {
  const { admin, slug } = await seedTeam();
  await call(admin, "POST", "/api/v1/tokens", { name: `ci ${ATTR_PAYLOAD}`, role: "deployer" });
  await call(admin, "POST", "/api/v1/members", { email: `eve@${slug}.test`, name: `Eve ${SCRIPT_PAYLOAD}`, role: "viewer" });
  await call(admin, "POST", "/api/v1/credentials", { account_id: "acc_shop", name: `prod ${ATTR_PAYLOAD}`, api_token: "never-shown-secret" });
  const page = await newPage();
  await signIn(page, admin);
  await page.getByRole("link", { name: "Settings", exact: true }).click();
  await page.locator("#tokens tbody tr").first().waitFor({ timeout: 15000 });
  await page.locator("#credentials tbody tr").first().waitFor({ timeout: 15000 });
  await page.locator("#members tbody tr").first().waitFor({ timeout: 15000 });
  const main = await page.locator("main").textContent();
  assert.match(main, /ci "><img src=x onerror=/);
  assert.match(main, /Eve <script>window.__pwned = 'script'<\/script>/);
  assert.match(main, /prod "><img src=x onerror=/);
  assert.doesNotMatch(main, /never-shown-secret/, "a credential's token is never shown");
  await page.locator("#policies tbody tr").first().waitFor({ timeout: 15000 });
  assert.match(await page.locator("#policies").textContent(), /shop \/ production\s*1/);
  await page.locator("#github tbody tr").first().waitFor({ timeout: 15000 });
  assert.match(await page.locator("#github").textContent(), /Not connected: an admin runs clodo github connect/);
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/settings-admin.png`, fullPage: true });

  // A new token: its secret is shown once, and it works.
  const form = page.getByRole("form", { name: "New token" });
  await form.getByLabel("Name").fill("from the dashboard");
  await form.getByLabel("Role").selectOption("viewer");
  await form.getByRole("button", { name: "Create token" }).click();
  const secret = await page.getByLabel("New token secret").inputValue();
  assert.match(secret, /^clodo_/);
  const me = await call(secret, "GET", "/api/v1/me");
  assert.equal(me.role, "viewer");

  // Revoked through the dialog: the server refuses it from then on.
  await page.getByRole("button", { name: "Revoke token from the dashboard" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  await dialog.getByRole("button", { name: "Revoke" }).click();
  await page.locator("#tokens tr", { hasText: "from the dashboard" }).filter({ hasText: "revoked" }).waitFor({ timeout: 15000 });
  await call(secret, "GET", "/api/v1/me", undefined, 401);

  // A member added through the form is on the server.
  const members = page.getByRole("form", { name: "New member" });
  await members.getByLabel("Email").fill(`fay@${slug}.test`);
  await members.getByLabel("Role").selectOption("approver");
  await members.getByRole("button", { name: "Add member" }).click();
  await page.locator("#members tr", { hasText: `fay@${slug}.test` }).waitFor({ timeout: 15000 });
  const listed = await call(admin, "GET", "/api/v1/members");
  assert.ok(listed.items.some((m) => m.email === `fay@${slug}.test` && m.role === "approver"));

  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.deepEqual(errorsBut404(page), []);
  await page.close();
});

test("a viewer's settings offer nothing the server would refuse", async () => {
  const { admin, slug } = await seedTeam();
  await call(admin, "POST", "/api/v1/members", { email: `vic@${slug}.test`, role: "viewer" });
  const viewer = (await call(admin, "POST", "/api/v1/tokens", { name: "vic", role: "viewer", member_email: `vic@${slug}.test` })).secret;
  const page = await newPage();
  await signIn(page, viewer);
  // The overview first, fully loaded (leaving it mid-request would log aborted fetches).
  await page.locator('tr[data-env="shop/production"]').waitFor({ timeout: 15000 });
  await page.getByRole("link", { name: "Settings", exact: true }).click();
  await page.locator("#members tbody tr").first().waitFor({ timeout: 15000 });
  assert.equal(await page.getByRole("form", { name: "New token" }).count(), 0);
  assert.equal(await page.getByRole("form", { name: "New member" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: /Remove member/ }).count(), 0);
  assert.equal(await page.getByRole("button", { name: /Edit policy of/ }).count(), 0);
  assert.match(await page.locator("#settings-tokens").textContent(), /Only team admins/);
  // And the server agrees: the viewer's token cannot list tokens.
  await call(viewer, "GET", "/api/v1/tokens", undefined, 403);
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/settings-viewer.png`, fullPage: true });
  assert.deepEqual(errorsBut404(page), []);
  await page.close();
});

/** A deployment of shop/staging taken to `end`, whose move to verifying records `services`
 *  (the snapshots `clodo deploy` sends). */
async function shipped(admin, sha, message, services, end = "succeeded") {
  const d = await call(admin, "POST", "/api/v1/deployments", { project: "shop", environment: "staging", git_sha: sha, message });
  await call(admin, "POST", "/api/v1/projects/shop/environments/staging/lock/acquire", { holder_id: d.id });
  await call(admin, "POST", `/api/v1/deployments/${d.id}/transitions`, { to: "deploying" });
  await call(admin, "POST", `/api/v1/deployments/${d.id}/transitions`, { to: "verifying", detail: { message, services } });
  await call(admin, "POST", `/api/v1/deployments/${d.id}/transitions`, { to: end });
  return d.id;
}

const snapshot = (version, bindings, date = "2025-09-01") => ({
  service: "api",
  script: "shop-api-staging",
  previous_version: null,
  new_version: version,
  command: "deploy",
  compatibility_date: date,
  bindings,
  migrations_applied: [],
});

test("two deployments compare by versions, bindings and git range; unmeasurable performance says why", async () => {
  const { admin } = await seedTeam();
  const a = await shipped(admin, "1111111111111111111111111111111111111111", "before", [snapshot("v-old", ["kv CACHE -> cache"])]);
  const b = await shipped(admin, "2222222222222222222222222222222222222222", `after ${ATTR_PAYLOAD}`, [
    snapshot("v-new", ["d1 DB -> shop", "kv CACHE -> cache"], "2025-10-01"),
  ]);
  const page = await newPage();
  await signIn(page, admin);
  // From the deployment view's "Compare…" link, choosing the earlier one as "before".
  await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}#/deployments/${b}`);
  await page.getByRole("link", { name: "Compare…" }).click();
  await page.getByLabel("Before (deployment id)").fill(a);
  await page.getByRole("button", { name: "Compare", exact: true }).click();
  const differences = page.locator("#differences");
  await differences.waitFor({ timeout: 15000 });
  const text = await differences.textContent();
  assert.match(text, /version\s*v-old\s*v-new/);
  assert.match(text, /compatibility date\s*2025-09-01\s*2025-10-01/);
  assert.match(text, /binding.*d1 DB -> shop/);
  assert.match(await page.locator("main").textContent(), /git log --oneline 1111111111111111111111111111111111111111\.\.2222222222222222222222222222222222222222/);
  assert.match(await page.locator("main").textContent(), /after "><img src=x onerror=/);
  // staging is bound to no Cloudflare account here: nothing can be measured, and it says so.
  const perf = await page.locator("#performance").textContent();
  assert.match(perf, /not measured/);
  assert.match(perf, /not bound to a Cloudflare account/);
  assert.doesNotMatch(perf, /0\.00%/);
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/compare.png`, fullPage: true });

  // The API answers the same comparison to any team member, and nothing to another team.
  const c = await call(admin, "GET", `/api/v1/deployments/${a}/compare/${b}`);
  assert.equal(c.performance.services[0].before.error_rate, null);
  const stranger = await seedTeam();
  await call(stranger.admin, "GET", `/api/v1/deployments/${a}/compare/${b}`, undefined, 404);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.deepEqual(errorsBut404(page), []);
  await page.close();
});

test("light and dark themes: the system setting, the toggle, and no contrast violations in either", async () => {
  const { admin } = await seedTeam();
  const page = await newPage();
  await page.emulateMedia({ colorScheme: "dark" });
  await signIn(page, admin);
  await page.locator('tr[data-env="shop/production"]').waitFor({ timeout: 15000 });
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  // A click returns once the event is dispatched; Preact renders the new theme a moment later
  // (under load, later than the next read: one CI run read the old colour). Wait for it, then
  // check it.
  const becomes = async (rgb, why) => {
    await page
      .waitForFunction((want) => getComputedStyle(document.body).backgroundColor === want, rgb, { timeout: 5000 })
      .catch(() => {});
    assert.equal(await background(), rgb, why);
  };
  assert.equal(await background(), "rgb(13, 17, 23)", "dark from the system setting");
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/theme-dark.png`, fullPage: true });
  // The toggle: system → light, whatever the system says.
  await page.locator("#theme").click();
  await becomes("rgb(255, 255, 255)", "light from the toggle");
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/theme-light.png`, fullPage: true });
  await page.locator("#theme").click();
  await becomes("rgb(13, 17, 23)", "dark from the toggle");
  // Kept for the next visit (a preference, not a secret).
  await page.reload();
  await page.locator('tr[data-env="shop/production"]').waitFor({ timeout: 15000 });
  assert.equal(await background(), "rgb(13, 17, 23)");
  assert.match(await page.locator("#theme").textContent(), /dark/);
  assert.deepEqual(page.errors, []);
  await page.close();
});
