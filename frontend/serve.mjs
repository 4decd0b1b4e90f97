// Serves frontend/public on loopback for `make dev` and the browser tests, the way Cloudflare
// Pages serves it in production: static files, index.html for "/", 404 for anything else.
// Usage: node frontend/serve.mjs [port]
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "public");
const port = Number(process.argv[2] ?? 8789);
const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css" };

const server = createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
  const file = normalize(join(root, path === "/" ? "index.html" : path));
  // Refuse anything that resolves outside public/ (e.g. /../wrangler.toml).
  if (!file.startsWith(root + sep) || (req.method !== "GET" && req.method !== "HEAD")) {
    res.writeHead(404).end("not found");
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
    res.end(req.method === "HEAD" ? undefined : body);
  } catch {
    res.writeHead(404).end("not found");
  }
});
server.listen(port, "127.0.0.1", () => {
  console.log(`dashboard on http://127.0.0.1:${server.address().port}`);
});
