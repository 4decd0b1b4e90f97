// Runs the built Worker on workerd through Miniflare's API, with the bindings wrangler.toml
// declares (read by wrangler's own `unstable_getMiniflareWorkerOptions`), local D1 and
// SQLite-backed Durable Objects persisted under STATE_DIR, and without `wrangler dev`'s proxy
// and inspector workers: under wrangler dev every subrequest the Worker makes (each D1 query,
// each Durable Object call) is reported to the wrangler process as DevTools events, which
// cost more CPU than the request itself (docs/performance.md, "Where a lock request's time
// goes"). Used by bench/lock.sh for its "workerd direct" figures.
//
//   node bench/workerd_direct.mjs CONFIG STATE_DIR PORT [NAME=VALUE...]
//
// CONFIG is a wrangler.toml whose `main` is the built bundle (bench/local_worker.sh writes one);
// NAME=VALUE pairs are extra variables (as `wrangler dev --var`). Prints `ready URL` once the
// Worker answers, then runs until killed.
import path from "node:path";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const [config, stateDir, port, ...vars] = process.argv.slice(2);
if (!config || !stateDir || !port) {
  console.error("usage: node bench/workerd_direct.mjs CONFIG STATE_DIR PORT [NAME=VALUE...]");
  process.exit(2);
}
const { workerOptions, main } = unstable_getMiniflareWorkerOptions(config);
const bindings = { ...workerOptions.bindings };
for (const pair of vars) {
  const at = pair.indexOf("=");
  if (at < 1) {
    console.error(`bench/workerd_direct.mjs: ${pair} is not NAME=VALUE`);
    process.exit(2);
  }
  bindings[pair.slice(0, at)] = pair.slice(at + 1);
}
// The same layout as `wrangler dev --persist-to STATE_DIR`, so `wrangler d1 migrations apply
// --local --persist-to STATE_DIR` prepares the database this Worker opens.
const persist = path.join(stateDir, "v3");
const mf = new Miniflare({
  ...workerOptions,
  bindings,
  name: "clodo",
  modules: true,
  scriptPath: path.resolve(path.dirname(config), main),
  host: "127.0.0.1",
  port: Number(port),
  d1Persist: path.join(persist, "d1"),
  durableObjectsPersist: path.join(persist, "do"),
});
const url = await mf.ready;
console.log(`ready ${url.href.replace(/\/$/, "")}`);
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => mf.dispose().finally(() => process.exit(0)));
}
