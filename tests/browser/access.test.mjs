// Browser test of Cloudflare Access sign-in (Chromium through playwright-core, against the
// local Worker and the built dashboard): the team's Access application points at a loopback
// fake publishing the test signing keys (tests/data/access/test_keys.json); every request the
// page makes to the API gets the `Cf-Access-Jwt-Assertion` Access would add at its edge. The
// dashboard then asks for no token: it shows the member the assertion names, with their role,
// and keeps no token in sessionStorage.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createPrivateKey, createSign } from "node:crypto";
import { readFileSync } from "node:fs";
import { api, dashboard, shots, call, seedTeam, newPage, seriousViolations, launch, close } from "./support.mjs";

before(launch);
after(close);

const keys = JSON.parse(readFileSync(new URL("../data/access/test_keys.json", import.meta.url), "utf8")).keys;
const b64url = (data) => Buffer.from(data).toString("base64url");

/** An RS256 JWT over `claims`, signed with test key `index`, as Access signs it. */
function assertion(index, claims) {
  const k = keys[index];
  const key = createPrivateKey({ key: { kty: "RSA", n: k.n, e: k.e, d: k.d, p: k.p, q: k.q, dp: k.dp, dq: k.dq, qi: k.qi }, format: "jwk" });
  const signed = `${b64url(JSON.stringify({ alg: "RS256", kid: k.kid, typ: "JWT" }))}.${b64url(JSON.stringify(claims))}`;
  const signature = createSign("RSA-SHA256").update(signed).sign(key);
  return `${signed}.${b64url(signature)}`;
}

/** The team's Access keys at `/cdn-cgi/access/certs` on loopback. */
async function fakeAccess() {
  const server = createServer((req, res) => {
    if (req.url !== "/cdn-cgi/access/certs") return res.writeHead(404).end();
    const published = keys.slice(0, 1).map((k) => ({ kid: k.kid, kty: "RSA", alg: "RS256", use: "sig", n: k.n, e: k.e }));
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: published }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  // A failed assertion must not leave the file's process waiting on this server.
  server.unref();
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

test("behind Cloudflare Access the dashboard signs in without a token", async () => {
  const { admin, slug } = await seedTeam();
  const fake = await fakeAccess();
  const audience = `aud${slug.replace(/[^a-z0-9]/g, "")}`;
  await call(admin, "PUT", "/api/v1/access", { team_domain: fake.url, audience });
  const now = Math.floor(Date.now() / 1000);
  const jwt = assertion(0, {
    aud: [audience], email: `admin@${slug}.test`, iss: fake.url, type: "app",
    exp: now + 600, iat: now - 5, nbf: now - 5, sub: "ui-access",
  });

  const page = await newPage();
  // What Access's edge does: every request to the API arrives with the assertion.
  await page.route(`${api}/**`, (route) =>
    route.continue({ headers: { ...route.request().headers(), "cf-access-jwt-assertion": jwt } }),
  );
  // `?access=1` (or a build with VITE_CLODO_ACCESS=true) asks the API before asking for a token.
  await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}&access=1#/settings`);
  await page.locator("[data-field=via]").waitFor({ timeout: 15000 });
  assert.equal(await page.locator("[data-field=actor]").textContent(), `member:admin@${slug}.test`);
  assert.equal(await page.locator("#signin-title").count(), 0, "no token is asked for");
  assert.equal(await page.getByRole("button", { name: "Sign out" }).count(), 0);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("clodo.token")), null);
  // The admin's settings load through the Access session, and a change works (it carries an
  // Idempotency-Key, as every dashboard change does).
  await page.locator("#members tbody tr").first().waitFor({ timeout: 15000 });
  const members = page.getByRole("form", { name: "New member" });
  await members.getByLabel("Email").fill(`gus@${slug}.test`);
  await members.getByLabel("Role").selectOption("viewer");
  await members.getByRole("button", { name: "Add member" }).click();
  await page.locator("#members tr", { hasText: `gus@${slug}.test` }).waitFor({ timeout: 15000 });
  const audit = await call(admin, "GET", "/api/v1/audit?action=member.add&limit=20");
  assert.ok(audit.items.some((e) => e.actor === `member:admin@${slug}.test`), JSON.stringify(audit.items));
  assert.deepEqual(await seriousViolations(page), []);
  await page.screenshot({ path: `${shots}/access-signed-in.png`, fullPage: true });
  assert.deepEqual(page.errors.filter((e) => !/status of 404/.test(e)), []);
  await page.close();

  // Without the assertion the same dashboard says no Access session reached the API and asks
  // for a token; the sign-in card's button asks again.
  const plain = await newPage();
  await plain.goto(`${dashboard}/?api=${encodeURIComponent(api)}&access=1#/`);
  await plain.locator("#signin-title").waitFor({ timeout: 15000 });
  assert.match(await plain.locator("main").textContent(), /No Cloudflare Access session/);
  await plain.route(`${api}/**`, (route) =>
    route.continue({ headers: { ...route.request().headers(), "cf-access-jwt-assertion": jwt } }),
  );
  await plain.getByRole("button", { name: "Use Cloudflare Access" }).click();
  await plain.locator("[data-field=via]").waitFor({ timeout: 15000 });
  await plain.close();
  fake.server.close();
});
