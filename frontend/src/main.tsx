// The Clodo dashboard: a single-page app over the control plane's API. Routes live in the
// address's hash (#/, #/history, #/deployments/ID, #/assessments/ID, #/metrics, #/previews, #/compare, #/settings, #/audit) so the static Pages site needs no
// server-side routing.
import { render } from "preact";
import { useEffect, useLayoutEffect, useMemo, useState } from "preact/hooks";
import { get, type Api, type Me, type Schemas } from "./api/client";
import { accessExpected, initialApiBase, rememberAccess, rememberApiBase, storeToken, storedToken } from "./session";
import { SignIn } from "./views/SignIn";
import { Overview } from "./views/Overview";
import { History, type HistoryFilters } from "./views/History";
import { Deployment } from "./views/Deployment";
import { Audit } from "./views/Audit";
import { Metrics } from "./views/Metrics";
import { Assessment } from "./views/Assessment";
import { Previews } from "./views/Previews";
import { Compare } from "./views/Compare";
import { Settings } from "./views/Settings";
import "./style.css";

interface Route {
  page: "overview" | "history" | "deployment" | "audit" | "metrics" | "assessment" | "previews" | "compare" | "settings";
  id?: string;
  params: URLSearchParams;
}

function parseRoute(hash: string): Route {
  const [pathPart, q = ""] = hash.replace(/^#/, "").split("?");
  const parts = pathPart.split("/").filter(Boolean);
  const params = new URLSearchParams(q);
  if (parts[0] === "history") return { page: "history", params };
  if (parts[0] === "audit") return { page: "audit", params };
  if (parts[0] === "metrics") return { page: "metrics", params };
  if (parts[0] === "previews") return { page: "previews", params };
  if (parts[0] === "compare") return { page: "compare", params };
  if (parts[0] === "settings") return { page: "settings", params };
  if (parts[0] === "assessments" && parts[1]) return { page: "assessment", id: decodeURIComponent(parts[1]), params };
  if (parts[0] === "deployments" && parts[1]) return { page: "deployment", id: decodeURIComponent(parts[1]), params };
  return { page: "overview", params };
}

function useRoute(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return useMemo(() => parseRoute(hash), [hash]);
}

type Theme = "system" | "light" | "dark";
const THEME_KEY = "clodo-theme";

/** The header's theme switch: the system setting, light or dark (kept in localStorage: a
 *  preference, not a secret), applied as `data-theme` on <html>. */
function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem(THEME_KEY) as Theme | null) ?? "system");
  // Before paint, so the page never shows a frame in the theme it is leaving.
  useLayoutEffect(() => {
    if (theme === "system") {
      delete document.documentElement.dataset.theme;
      localStorage.removeItem(THEME_KEY);
    } else {
      document.documentElement.dataset.theme = theme;
      localStorage.setItem(THEME_KEY, theme);
    }
  }, [theme]);
  const next: Record<Theme, Theme> = { system: "light", light: "dark", dark: "system" };
  return [theme, () => setTheme(next[theme])];
}

type Connection = { state: "pending" | "ok" | "bad"; text: string; version?: Schemas["VersionInfo"] };

/** Whether the API answers and is ready (`/readyz`), shown in the header at all times. */
function useConnection(base: string): Connection {
  const [conn, setConn] = useState<Connection>({ state: "pending", text: `Connecting to ${base}…` });
  useEffect(() => {
    let live = true;
    setConn({ state: "pending", text: `Connecting to ${base}…` });
    (async () => {
      try {
        const version = await get<Schemas["VersionInfo"]>({ base, token: null }, "/api/v1/version");
        const ready = await fetch(new URL("/readyz", base)).then((r) => r.ok).catch(() => false);
        if (live)
          setConn({ state: ready ? "ok" : "bad", text: `Connected to ${base}: ${ready ? "ready" : "not ready"}`, version });
      } catch (e) {
        if (live) setConn({ state: "bad", text: (e as Error).message });
      }
    })();
    return () => {
      live = false;
    };
  }, [base]);
  return conn;
}

function App() {
  const [base, setBase] = useState(initialApiBase);
  const [token, setToken] = useState<string | null>(storedToken);
  const [me, setMe] = useState<Me | null>(null);
  const [meError, setMeError] = useState(false);
  const route = useRoute();
  const connection = useConnection(base);
  const [theme, nextTheme] = useTheme();
  const api: Api = useMemo(() => ({ base, token }), [base, token]);

  // Without a token, the API may still know who this is: behind Cloudflare Access it signs the
  // browser in from Access's own assertion, and then no token is asked for.
  type Access = "checking" | "yes" | "no" | "none-found";
  const [access, setAccess] = useState<Access>(!token && accessExpected() ? "checking" : "no");
  useEffect(() => {
    if (token || access !== "checking") return;
    let live = true;
    get<Me>({ base, token: null }, "/api/v1/me")
      .then((m) => live && (rememberAccess(true), setMe(m), setAccess("yes")))
      .catch(() => live && (rememberAccess(false), setAccess("none-found")));
    return () => {
      live = false;
    };
  }, [base, token, access]);

  useEffect(() => {
    if (!token) return;
    get<Me>(api, "/api/v1/me")
      .then((m) => (setMe(m), setMeError(false)))
      .catch(() => {
        // A revoked or expired token: forget it and ask again.
        storeToken(null);
        setToken(null);
        setMeError(true);
      });
  }, [api]);

  const signOut = () => {
    storeToken(null);
    setToken(null);
    setMe(null);
  };
  const filters: HistoryFilters = {
    project: route.params.get("project") ?? "",
    environment: route.params.get("environment") ?? "",
    status: route.params.get("status") ?? "",
  };
  const nav = (page: Route["page"], text: string, href: string) => (
    <a href={href} aria-current={route.page === page ? "page" : undefined}>
      {text}
    </a>
  );

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          <img src="/favicon.svg" alt="" width="24" height="24" /> Clodo
        </a>
        {me && (
          <nav aria-label="Main">
            {nav("overview", "Overview", "#/")}
            {nav("history", "History", "#/history")}
            <a href="#/history?status=awaiting_approval">Awaiting approval</a>
            {nav("metrics", "Metrics", "#/metrics")}
            {nav("audit", "Audit", "#/audit")}
            {nav("settings", "Settings", "#/settings")}
          </nav>
        )}
        <button type="button" id="theme" onClick={nextTheme} aria-label={`Theme: ${theme} (change)`}>
          {theme === "system" ? "Theme: system" : theme === "light" ? "Theme: light" : "Theme: dark"}
        </button>
        <form
          class="api"
          aria-label="API connection"
          onSubmit={(event) => {
            event.preventDefault();
            const value = new FormData(event.currentTarget as HTMLFormElement).get("api")?.toString() ?? base;
            rememberApiBase(value);
            setBase(value);
          }}
        >
          <label for="api-url">API</label>
          <input id="api-url" name="api" type="url" required spellcheck={false} defaultValue={base} />
          <button type="submit">Connect</button>
        </form>
        {me && (
          <span class="who">
            <span data-field="actor">{me.actor}</span> <span class="muted">({me.role})</span>{" "}
            {token ? (
              <button type="button" onClick={signOut}>
                Sign out
              </button>
            ) : (
              <span class="muted" data-field="via">
                via Cloudflare Access
              </span>
            )}
          </span>
        )}
      </header>
      <p id="connection" class={connection.state} role="status">
        {connection.text}
      </p>
      <main id="main">
        {!me ? (
          <>
            {meError && <p class="note bad">That token was not accepted; sign in again.</p>}
            {!token && access === "checking" && <p class="muted">Checking for a Cloudflare Access session…</p>}
            {!token && access === "none-found" && (
              <p class="note">No Cloudflare Access session reached the API; sign in with a token instead.</p>
            )}
            {!token && access !== "checking" && access !== "yes" && (
              <SignIn
                base={base}
                onAccess={() => setAccess("checking")}
                onSignedIn={(t, m) => {
                  storeToken(t);
                  setToken(t);
                  setMe(m);
                  setMeError(false);
                }}
              />
            )}
            {token && <p class="muted">Signing in…</p>}
          </>
        ) : route.page === "history" ? (
          <History
            api={api}
            filters={filters}
            onFilter={(f) => {
              const q = new URLSearchParams(Object.entries(f).filter(([, v]) => v) as [string, string][]).toString();
              location.hash = `#/history${q ? `?${q}` : ""}`;
            }}
          />
        ) : route.page === "deployment" && route.id ? (
          <Deployment api={api} me={me} id={route.id} />
        ) : route.page === "assessment" && route.id ? (
          <Assessment api={api} id={route.id} />
        ) : route.page === "audit" ? (
          <Audit api={api} />
        ) : route.page === "settings" ? (
          <Settings api={api} me={me} />
        ) : route.page === "compare" ? (
          <Compare api={api} a={route.params.get("a") ?? ""} b={route.params.get("b") ?? ""} />
        ) : route.page === "previews" ? (
          <Previews api={api} project={route.params.get("project") ?? ""} environment={route.params.get("environment") ?? ""} />
        ) : route.page === "metrics" ? (
          <Metrics
            api={api}
            project={route.params.get("project") ?? ""}
            environment={route.params.get("environment") ?? ""}
            days={route.params.get("days") ?? "30"}
          />
        ) : (
          <Overview api={api} me={me} />
        )}
      </main>
      <footer class="muted">
        {connection.version && (
          <span>
            Control plane {connection.version.version} · schema {connection.version.schema_version ?? "none applied"}
          </span>
        )}
      </footer>
    </>
  );
}

render(<App />, document.getElementById("app")!);
