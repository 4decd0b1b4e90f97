// Browser tests of the settings page's forms (Chromium through playwright-core, against the
// local Worker and the built dashboard): an admin writes an environment's whole policy
// (required approvals beyond 0/1, branches, a deploy window, a freeze) and creates
// notification channels of two kinds from the page; the server holds exactly what was written,
// a refused value is explained on the page, and user text stays text.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { api, dashboard, shots, call, seedTeam, newPage, signIn, seriousViolations, launch, close, SCRIPT_PAYLOAD } from "./support.mjs";

before(launch);
after(close);

const errorsBut = (page, re) => page.errors.filter((e) => !re.test(e));

test("an admin edits an environment's policy: approvals, branches, windows and freezes", async () => {
  const { admin } = await seedTeam();
  const page = await newPage();
  await signIn(page, admin);
  await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}#/settings`);
  await page.getByRole("button", { name: "Edit policy of shop/production" }).click();
  const form = page.getByRole("form", { name: "Policy of shop/production" });
  await form.getByLabel("Required approvals").fill("2");
  await form.getByLabel(/Branches/).fill("main, release/*");
  await form.getByLabel(/Deploy windows/).fill("mon,tue,wed,thu,fri 09:00-17:00 Europe/Paris");
  await form.getByLabel(/Freezes/).fill(`2030-12-24T00:00:00Z 2030-12-27T00:00:00Z holidays ${SCRIPT_PAYLOAD}`);
  assert.deepEqual(await seriousViolations(page), []);
  await form.getByRole("button", { name: "Save policy" }).click();
  const row = page.locator("#policies tbody tr", { hasText: "shop / production" });
  await row.filter({ hasText: "1 window(s)" }).waitFor({ timeout: 15000 });
  assert.match(await row.textContent(), /shop \/ production\s*2\s*main, release\/\*\s*1 window\(s\)\s*1 freeze\(s\)/);
  const policy = await call(admin, "GET", "/api/v1/projects/shop/environments/production/policy");
  assert.equal(policy.required_approvals, 2);
  assert.deepEqual(policy.branches, ["main", "release/*"]);
  assert.deepEqual(policy.windows, [{ days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "17:00", timezone: "Europe/Paris" }]);
  assert.equal(policy.freezes.length, 1);
  assert.equal(policy.freezes[0].reason, `holidays ${SCRIPT_PAYLOAD}`);
  await page.screenshot({ path: `${shots}/settings-policy.png`, fullPage: true });

  // What the server refuses is said on the page, and nothing changes.
  await page.getByRole("button", { name: "Edit policy of shop/production" }).click();
  const again = page.getByRole("form", { name: "Policy of shop/production" });
  assert.equal(await again.getByLabel("Required approvals").inputValue(), "2", "the form starts from the stored policy");
  await again.getByLabel(/Deploy windows/).fill("mon 09:00-17:00 Mars/Olympus_Mons");
  await again.getByRole("button", { name: "Save policy" }).click();
  await again.getByRole("alert").waitFor({ timeout: 15000 });
  assert.match(await again.getByRole("alert").textContent(), /timezone|zone/i);
  const unchanged = await call(admin, "GET", "/api/v1/projects/shop/environments/production/policy");
  assert.deepEqual(unchanged.windows, policy.windows);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.deepEqual(errorsBut(page, /status of (404|400)/), []);
  await page.close();
});

test("an admin creates notification channels from the page; a webhook's secret is shown once", async () => {
  const { admin } = await seedTeam();
  const page = await newPage();
  await signIn(page, admin);
  await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}#/settings`);
  const form = page.getByRole("form", { name: "New channel" });
  await form.waitFor({ timeout: 15000 });
  await form.getByLabel("Name").fill("deploy-hooks");
  await form.getByLabel("Kind").selectOption("webhook");
  await form.getByLabel("Endpoint URL").fill("https://hooks.example.test/clodo");
  assert.deepEqual(await seriousViolations(page), []);
  await form.getByRole("button", { name: "Add channel" }).click();
  const secret = await page.getByLabel("New channel signing secret").inputValue();
  assert.match(secret, /^whsec_/);
  await page.locator("#channels tr", { hasText: "deploy-hooks" }).waitFor({ timeout: 15000 });

  await form.getByLabel("Name").fill("ops-slack");
  await form.getByLabel("Environment (empty: all)").fill("production");
  await form.getByLabel("Kind").selectOption("slack");
  await form.getByLabel("Webhook URL").fill("https://hooks.slack.example.test/services/T0/B0/abc");
  await form.getByRole("button", { name: "Add channel" }).click();
  await page.locator("#channels tr", { hasText: "ops-slack" }).waitFor({ timeout: 15000 });
  await page.screenshot({ path: `${shots}/settings-channels.png`, fullPage: true });

  const listed = (await call(admin, "GET", "/api/v1/channels")).items;
  const hook = listed.find((c) => c.name === "deploy-hooks");
  const slack = listed.find((c) => c.name === "ops-slack");
  assert.equal(hook.kind, "webhook");
  assert.equal(hook.project, "shop");
  assert.equal(hook.environment, null);
  assert.equal(slack.kind, "slack");
  assert.equal(slack.environment, "production");
  const main = await page.locator("main").textContent();
  assert.doesNotMatch(main, /T0\/B0\/abc/, "a Slack webhook URL is a secret and is not shown");

  // A kind's missing field is refused by the server and explained.
  await form.getByLabel("Name").fill("mail");
  await form.getByLabel("Kind").selectOption("email");
  await form.getByLabel("API key").fill("re_test_key");
  await form.getByLabel("From").fill("clodo@example.test");
  await form.getByLabel("To (comma separated)").fill("not-an-address");
  await form.getByRole("button", { name: "Add channel" }).click();
  await page.locator("#settings-channels [role=alert]").waitFor({ timeout: 15000 });
  assert.equal((await call(admin, "GET", "/api/v1/channels")).items.length, 2);
  assert.deepEqual(errorsBut(page, /status of (404|400)/), []);
  await page.close();
});
