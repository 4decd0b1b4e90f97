// Serves the built dashboard (frontend/dist) on loopback for `make dev` and the browser tests,
// the way Cloudflare Pages serves it in production: static files, index.html for "/", the
// headers of dist/_headers (its "/*" block: the Content-Security-Policy) on every answer,
// 404 for anything else.
// Usage: node frontend/serve.mjs [port]
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "dist");
const port = Number(process.argv[2] ?? 8789);
const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".svg": "image/svg+xml",
};

/** The "/*" block of Pages' `_headers` file: `  Name: value` lines under the pattern. */
function pagesHeaders() {
  let text;
  try {
    text = readFileSync(join(root, "_headers"), "utf8");
  } catch {
    console.error(`no ${join(root, "_headers")}: build the dashboard first (npm --prefix frontend run build)`);
    process.exit(1);
  }
  const headers = {};
  let inAll = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith(" ") && line.trim()) inAll = line.trim() === "/*";
    else if (inAll && line.includes(":")) {
      const at = line.indexOf(":");
      headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
  }
  return headers;
}
const common = pagesHeaders();

const server = createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
  const file = normalize(join(root, path === "/" ? "index.html" : path));
  // Refuse anything that resolves outside dist/ (e.g. /../serve.mjs) and the headers file.
  if (!file.startsWith(root + sep) || path === "/_headers" || (req.method !== "GET" && req.method !== "HEAD")) {
    res.writeHead(404, common).end("not found");
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, { ...common, "content-type": types[extname(file)] ?? "application/octet-stream" });
    res.end(req.method === "HEAD" ? undefined : body);
  } catch {
    res.writeHead(404, common).end("not found");
  }
});
server.listen(port, "127.0.0.1", () => {
  console.log(`dashboard on http://127.0.0.1:${server.address().port}`);
});
