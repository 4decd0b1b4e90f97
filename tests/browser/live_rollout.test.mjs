// The dashboard follows a live rollout: the test ships a copy of the example shop with the
// real `clodo` CLI and wrangler to the sandbox (a first release, then a gradual one that it
// leaves running with --detach), opens the deployment in Chromium and watches the traffic
// split move 50% → 100% and the rollout succeed without the page ever reloading, the updates
// arriving over the Rollout object's WebSocket (opened with a single-use ticket).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { api, dashboard, sandbox, shots, call, seedTeam, newPage, signIn, seriousViolations, launch, close } from "./support.mjs";

// The example's sandbox account and token (examples/shop/sandbox-seed.json).
const ACCOUNT = "acc_shop";
const TOKEN = "shop-demo-token";
const repo = new URL("../..", import.meta.url).pathname;
const clodoBin = join(process.env.CARGO_TARGET_DIR ?? join(repo, "target"), "debug/clodo");
let dir;
const dirs = [];

before(launch);
after(async () => {
  await close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A copy of examples/shop whose Workers carry a unique prefix, with the three Workers and a
 *  gradual rollout in clodo.toml. */
function shopCopy(extraToml = "") {
  const prefix = `b${Date.now().toString(36)}${process.pid.toString(36)}`;
  dir = mkdtempSync(join(tmpdir(), "clodo-ui-shop-"));
  dirs.push(dir);
  cpSync(join(repo, "examples/shop"), dir, { recursive: true });
  for (const s of ["api", "web", "jobs"]) {
    const file = join(dir, s, "wrangler.toml");
    const text = readFileSync(file, "utf8")
      .replaceAll('"shop-api', `"${prefix}-api`)
      .replaceAll('"shop-web', `"${prefix}-web`)
      .replaceAll('"shop-jobs', `"${prefix}-jobs`)
      // Parallel tests share the seeded databases: leave migrations to tests/e2e_pages_d1.rs.
      .replace('migrations_dir = "migrations"\n', "");
    writeFileSync(file, text);
  }
  const services = readFileSync(join(repo, "tests/fixtures/shop/services.toml"), "utf8");
  writeFileSync(
    join(dir, "clodo.toml"),
    `${services}\n${extraToml}\n[deploy]\nstrategy = "gradual"\nsteps = [50, 100]\nstep_wait_secs = 8\n`,
  );
  return prefix;
}

function clodo(token, args, env = {}) {
  const out = spawnSync(clodoBin, args, {
    cwd: dir,
    encoding: "utf8",
    timeout: 300000,
    env: {
      ...process.env,
      XDG_CONFIG_HOME: join(dir, ".config"),
      CLODO_API_URL: api,
      CLODO_TOKEN: token,
      CLOUDFLARE_API_BASE_URL: sandbox,
      CLOUDFLARE_API_TOKEN: TOKEN,
      CLOUDFLARE_ACCOUNT_ID: ACCOUNT,
      CLODO_WRANGLER: join(repo, "node_modules/.bin/wrangler"),
      WRANGLER_SEND_METRICS: "false",
      NO_COLOR: "1",
      ...env,
    },
  });
  assert.equal(out.status, 0, `clodo ${args.join(" ")}\nstdout:\n${out.stdout}\nstderr:\n${out.stderr}`);
  return out.stdout;
}

test("the deployment view follows a rollout the CLI started, live, without reloading", async () => {
  assert.ok(sandbox, "run through tests/e2e.sh: CLODO_E2E_SANDBOX_URL is unset");
  const { admin } = await seedTeam({ stagingAccount: ACCOUNT });
  await call(admin, "POST", "/api/v1/credentials", { account_id: ACCOUNT, name: "sandbox", api_token: TOKEN });
  // Analysis on the api: each step waits for one error-rate and one p99 measurement.
  const prefix = shopCopy(
    `[[analysis]]\nmetric = "error_rate"\nservice = "api"\ncondition = "< 0.05"\ninterval_secs = 1\ncount = 1\n` +
      `[[analysis]]\nmetric = "p99_latency_ms"\nservice = "api"\ncondition = "< 500"\ninterval_secs = 1\ncount = 1\n`,
  );
  // Enough traffic for every 1 s window to hold requests.
  await sandboxAnalytics({ scripts: { [`${prefix}-api-staging`]: 1200 } });
  clodo(admin, ["deploy", "--env", "staging", "--strategy", "immediate", "--yes"]);
  const report = JSON.parse(clodo(admin, ["deploy", "--env", "staging", "--yes", "--detach", "--json"]));
  const id = report.deployment_id;
  assert.ok(id, `no deployment id in ${JSON.stringify(report)}`);

  const page = await newPage();
  // The live socket and the status messages it delivers.
  const sockets = [];
  page.on("websocket", (ws) => {
    const socket = { url: ws.url(), frames: 0 };
    sockets.push(socket);
    ws.on("framereceived", () => (socket.frames += 1));
  });
  await signIn(page, admin);
  await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}#/deployments/${id}`);
  // A marker on the window: a reload would lose it.
  await page.evaluate(() => (window.__sameDocument = true));
  const traffic = page.locator("#traffic");
  await traffic.filter({ hasText: "50% on the new version" }).waitFor({ timeout: 60000 });
  await page.locator("#feed").filter({ hasText: "WebSocket" }).waitFor({ timeout: 30000 });
  const socket = sockets.find((s) => s.url.includes(`/api/v1/deployments/${id}/rollout/live?ticket=clodo_live_`));
  assert.ok(socket, `no live socket with a ticket: ${JSON.stringify(sockets)}`);
  await page.locator("figure.chart:not(.metric)").waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/live-rollout-50.png`, fullPage: true });
  await traffic.filter({ hasText: "100% on the new version" }).waitFor({ timeout: 90000 });
  // The move to 100% came over the socket: its first message (the status at connection)
  // and at least one more.
  assert.ok(socket.frames >= 2, `the socket delivered ${socket.frames} message(s)`);
  await page.locator("#deployment-title").filter({ hasText: "succeeded" }).waitFor({ timeout: 60000 });
  // Each analysed metric of the api is charted per version against its threshold, from the
  // measurements the Rollout object kept.
  for (const [metric, condition, threshold] of [["error_rate", "< 0.05", "5%"], ["p99_latency_ms", "< 500", "500 ms"]]) {
    const chart = page.locator(`figure.metric[data-metric="${metric}"][data-service="api"]`);
    await chart.waitFor({ timeout: 30000 });
    assert.equal(await chart.locator("canvas").count() > 0, true, `${metric}: a uPlot canvas`);
    assert.match(await chart.locator("[data-field=threshold]").textContent(), new RegExp(`passes when ${condition}`));
    const label = await chart.locator("[role=img]").getAttribute("aria-label");
    assert.ok(label.includes(`(${threshold})`) && label.includes("new version"), label);
  }
  const measured = await call(admin, "GET", `/api/v1/deployments/${id}/rollout`);
  const errorRate = measured.analysis.find((m) => m.metric === "error_rate");
  assert.equal(errorRate.condition, "< 0.05");
  const samples = errorRate.services.find((s) => s.service === "api").samples;
  assert.ok(samples.length >= 1 && samples.every((x) => x.threshold === 0.05) && samples.some((x) => x.value !== null), JSON.stringify(samples));
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/live-rollout-done.png`, fullPage: true });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page reloaded");
  const log = await page.locator("#rollout-title ~ ol.log").textContent();
  assert.ok(log.length > 0, "the rollout log is shown");
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a branch preview shipped with clodo deploy --preview is listed with its URL", async () => {
  assert.ok(sandbox, "run through tests/e2e.sh: CLODO_E2E_SANDBOX_URL is unset");
  const { admin } = await seedTeam({ stagingAccount: ACCOUNT });
  await call(admin, "POST", "/api/v1/credentials", { account_id: ACCOUNT, name: "sandbox", api_token: TOKEN });
  const storefront = `${Date.now().toString(36)}-storefront`;
  shopCopy(
    `[[services]]\nname = "storefront"\nkind = "pages"\nbuild_output_dir = "storefront/public"\n` +
      `production_branch = "main"\nproject_names = { staging = "${storefront}" }\n`,
  );
  const made = await fetch(`${sandbox}/accounts/${ACCOUNT}/pages/projects`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: storefront, production_branch: "main" }),
  });
  assert.equal(made.status, 200, await made.text());
  const sha = "0123456789abcdef0123456789abcdef01234567";
  clodo(
    admin,
    ["deploy", "--env", "staging", "--preview", "--git-ref", "feature/gift-wrap", "--git-sha", sha, "--yes"],
    { CLODO_PAGES_ORIGIN: sandbox.replace(/\/client\/v4$/, "") },
  );

  const page = await newPage();
  await signIn(page, admin);
  await page.locator('tr[data-env="shop/staging"]').getByRole("link", { name: /Preview deployments/ }).click();
  const row = page.locator("#previews tbody tr").first();
  await row.waitFor({ timeout: 15000 });
  const text = await row.textContent();
  assert.match(text, /feature\/gift-wrap/);
  assert.match(text, /storefront/);
  assert.match(text, /01234567/);
  const href = await row.getByRole("link").getAttribute("href");
  assert.match(href, /^https:\/\//);
  assert.ok(href.includes(`feature-gift-wrap.${storefront}.pages.dev`), href);
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/previews.png`, fullPage: true });
  assert.deepEqual(page.errors, []);
  await page.close();
});

/** Changes the sandbox's analytics model (request rates per script, health per version). */
async function sandboxAnalytics(patch) {
  const res = await fetch(`${sandbox.replace(/\/client\/v4$/, "")}/__sandbox/analytics`, {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(patch),
  });
  assert.ok(res.ok, await res.text());
}

/** The version serving 100% of `script` in the sandbox account, as Cloudflare would answer. */
async function liveVersion(script) {
  const res = await fetch(`${sandbox}/accounts/${ACCOUNT}/workers/scripts/${script}/deployments`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const body = await res.json();
  const latest = body.result.deployments[0];
  const full = latest.versions.find((v) => v.percentage === 100);
  return full ? full.version_id : null;
}

test("an environment rolls back from the overview through the confirm dialog", async () => {
  assert.ok(sandbox, "run through tests/e2e.sh: CLODO_E2E_SANDBOX_URL is unset");
  const { admin } = await seedTeam({ stagingAccount: ACCOUNT });
  await call(admin, "POST", "/api/v1/credentials", { account_id: ACCOUNT, name: "sandbox", api_token: TOKEN });
  shopCopy();
  const first = JSON.parse(clodo(admin, ["deploy", "--env", "staging", "--strategy", "immediate", "--yes", "--json"]));
  const second = JSON.parse(clodo(admin, ["deploy", "--env", "staging", "--strategy", "immediate", "--yes", "--json"]));
  const api0 = first.services.find((s) => s.service === "api");
  const api1 = second.services.find((s) => s.service === "api");
  assert.ok(api0 && api1, `no api service in ${JSON.stringify(first.services)}`);
  assert.notEqual(api0.new_version, api1.new_version);
  assert.equal(await liveVersion(api1.script), api1.new_version);

  // Compare's performance path with real figures: the sandbox's analytics serve the api's
  // first version as healthy and its second as slower and failing 10%, over each deployment's
  // own window (the first's ends where the second started).
  await sandboxAnalytics({
    scripts: { [api1.script]: 1200 },
    versions: {
      [api0.new_version]: { error_ratio: 0, latency_p50_ms: 20, latency_p99_ms: 80 },
      [api1.new_version]: { error_ratio: 0.1, latency_p50_ms: 45, latency_p99_ms: 300 },
    },
  });
  // The second deployment's window runs until now: let it collect a hundred-odd requests.
  await new Promise((resolve) => setTimeout(resolve, 6000));
  const [idA, idB] = [first.deployment.id, second.deployment.id];
  const compared = await call(admin, "GET", `/api/v1/deployments/${idA}/compare/${idB}`);
  assert.equal(compared.performance.unavailable, null, JSON.stringify(compared.performance));
  const perfApi = compared.performance.services.find((s) => s.service === "api");
  assert.ok(perfApi, JSON.stringify(compared.performance));
  assert.ok(perfApi.before.requests > 0 && perfApi.after.requests > 0, JSON.stringify(perfApi));
  assert.deepEqual([perfApi.before.p50_ms, perfApi.before.p99_ms], [20, 80], JSON.stringify(perfApi));
  assert.deepEqual([perfApi.after.p50_ms, perfApi.after.p99_ms], [45, 300], JSON.stringify(perfApi));
  assert.ok(perfApi.after.error_rate > perfApi.before.error_rate, JSON.stringify(perfApi));
  const comparePage = await newPage();
  await signIn(comparePage, admin);
  await comparePage.goto(`${dashboard}/?api=${encodeURIComponent(api)}#/compare?a=${idA}&b=${idB}`);
  const perfTable = comparePage.locator("#performance");
  await perfTable.waitFor({ timeout: 30000 });
  const perfText = await perfTable.textContent();
  for (const figure of ["20.0 ms", "80.0 ms", "45.0 ms", "300.0 ms"]) assert.ok(perfText.includes(figure), `${figure} in ${perfText}`);
  assert.ok(perfApi.after.error_rate > 0.05 && perfApi.after.error_rate < 0.2, JSON.stringify(perfApi));
  // The page asked a moment later (the second window runs until now): about 10% too.
  assert.match(perfText, /(?:9|1[0-4])\.\d\d%/, "the second version's error rate, about 10%");
  assert.deepEqual(await seriousViolations(comparePage), []);
  await comparePage.screenshot({ path: `${shots}/compare-performance.png`, fullPage: true });
  assert.deepEqual(comparePage.errors, []);
  await comparePage.close();

  const page = await newPage();
  await signIn(page, admin);
  const row = page.locator('tr[data-env="shop/staging"]');
  await row.getByRole("button", { name: "Roll shop staging back" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByRole("heading", { name: "Roll shop staging back?" }).waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/rollback-confirm.png` });
  // Cancel first: nothing moves.
  await dialog.getByRole("button", { name: "Cancel" }).click();
  assert.equal(await liveVersion(api1.script), api1.new_version, "a cancelled rollback moved traffic");
  await row.getByRole("button", { name: "Roll shop staging back" }).click();
  await dialog.getByLabel("Comment").fill("bad release <script>window.__pwned = 'reason'</script>");
  await dialog.getByRole("button", { name: "Roll back" }).click();
  const outcome = page.locator('[data-rollback-outcome="shop/staging"]');
  await outcome.waitFor({ timeout: 90000 });
  assert.match(await outcome.getAttribute("class"), /\bok\b/, await outcome.textContent());
  assert.equal(await liveVersion(api1.script), api0.new_version, "the api Worker is back on the first release");
  await page.screenshot({ path: `${shots}/rollback-done.png`, fullPage: true });
  assert.equal(await page.evaluate(() => window.__pwned ?? null), null);
  assert.deepEqual(page.errors, []);
  await page.close();
});
