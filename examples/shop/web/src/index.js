// The storefront: `/` is a small page, `/api/*` goes to the API Worker over the `API` service
// binding (no public hop), `/healthz` checks this Worker and the API behind it.
const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Shop</title></head>
<body>
  <h1>Shop</h1>
  <p>A Clodo example: this page, an API with D1 and a Durable Object, and a queue consumer.</p>
</body>
</html>`;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") {
      const api = await env.API.fetch("https://api.internal/healthz");
      return new Response(api.ok ? "ok" : "api unhealthy", { status: api.ok ? 200 : 502 });
    }
    if (url.pathname.startsWith("/api/")) {
      const target = new URL(url.pathname.slice("/api".length) + url.search, "https://api.internal");
      return env.API.fetch(new Request(target, request));
    }
    if (url.pathname === "/") {
      return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    return new Response("not found", { status: 404 });
  },
};
