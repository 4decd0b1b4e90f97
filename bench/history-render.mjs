// Times the dashboard's history view in Chromium (playwright-core) against the seeded local
// Worker: from navigating to #/history to its first page of rows on screen. Run by
// bench/history-render.sh, which seeds the deployments and starts the Worker and the site.
import { chromium } from "playwright-core";

const api = process.env.CLODO_BENCH_URL;
const dashboard = process.env.CLODO_DASHBOARD_URL;
const token = process.env.CLODO_BENCH_TOKEN;
const RUNS = 7;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const page = await browser.newPage();
  // Signed in the way the dashboard keeps a session: the token in this tab's sessionStorage.
  await page.addInitScript((t) => sessionStorage.setItem("clodo.token", t), token);
  const apiTimes = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    const r = await fetch(`${api}/api/v1/deployments?limit=25`, { headers: { authorization: `Bearer ${token}` } });
    const body = await r.json();
    apiTimes.push(performance.now() - started);
    if (body.items.length !== 25 || !body.next_cursor) throw new Error(`unexpected first page: ${JSON.stringify(body).slice(0, 200)}`);
  }
  const renderTimes = [];
  for (let i = 0; i < RUNS; i++) {
    // A blank page between loads: going to the same URL again is a same-document hash
    // navigation, which would find the rows of the previous load already there.
    await page.goto("about:blank");
    const started = performance.now();
    await page.goto(`${dashboard}/?api=${encodeURIComponent(api)}#/history`);
    await page.waitForFunction(() => document.querySelectorAll("#history tbody tr").length === 25, null, { timeout: 30000 });
    renderTimes.push(performance.now() - started);
  }
  const total = await page.evaluate(() => document.querySelector("#history tbody tr")?.textContent ?? "");
  if (!total.includes("bench deployment")) throw new Error(`history shows no seeded deployment: ${total}`);
  const fmt = (ms) => `${ms.toFixed(0)} ms`;
  console.log(`history first page, API alone (GET /api/v1/deployments?limit=25): median ${fmt(median(apiTimes))} of ${RUNS}`);
  console.log(
    `history first page in Chromium (load + sign-in check + 25 rows rendered): median ${fmt(median(renderTimes))} of ${RUNS}, worst ${fmt(Math.max(...renderTimes))} (target: under 1000 ms)`,
  );
} finally {
  await browser.close();
}
