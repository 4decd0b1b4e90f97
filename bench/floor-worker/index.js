// The lock benchmark's floor (bench/lock.sh): a Worker that does nothing but answer, run under
// the same `wrangler dev` as Clodo's. Its latency and throughput are what the local stack
// (wrangler's proxy, workerd, 2 cores) costs before any Worker code runs.
export default {
  async fetch() {
    return new Response('{"status":"ok"}', { headers: { "content-type": "application/json" } });
  },
};
