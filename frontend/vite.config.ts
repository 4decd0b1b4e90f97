// Builds the dashboard into dist/ (what `wrangler pages deploy` uploads) with a `_headers`
// file that gives every page a strict Content-Security-Policy. Scripts and styles come only
// from the site itself; the API may be called only at the origins `CLODO_API_ORIGINS` names
// (space separated; a production build sets the control plane's URL), which defaults to
// loopback for local builds.
import { defineConfig, type Plugin } from "vite";

const apiOrigins = process.env.CLODO_API_ORIGINS ?? "http://127.0.0.1:* http://localhost:*";
// The live view's WebSocket goes to the same origins as ws:/wss: (CSP matches schemes
// literally there, so each http(s) origin is listed again with its socket scheme).
const socketOrigins = apiOrigins
  .split(/\s+/)
  .filter((o) => /^https?:/.test(o))
  .map((o) => o.replace(/^http/, "ws"))
  .join(" ");

function securityHeaders(): Plugin {
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ${apiOrigins} ${socketOrigins}`,
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
  const headers = [
    "/*",
    `  Content-Security-Policy: ${csp}`,
    "  X-Content-Type-Options: nosniff",
    "  Referrer-Policy: no-referrer",
    "  X-Frame-Options: DENY",
    "",
  ].join("\n");
  return {
    name: "clodo-security-headers",
    apply: "build",
    generateBundle() {
      this.emitFile({ type: "asset", fileName: "_headers", source: headers });
    },
  };
}

export default defineConfig({
  // Preact's automatic JSX runtime (Vite 8 transforms TSX with Oxc).
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  plugins: [securityHeaders()],
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
});
