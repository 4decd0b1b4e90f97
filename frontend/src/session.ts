// Where the dashboard keeps who it is and which API it talks to. The token is a secret: it
// lives in memory and sessionStorage (gone when the tab closes), never in localStorage. The
// API base is not secret and is remembered across visits.

const TOKEN_KEY = "clodo.token";
const API_KEY = "clodo.api";
const LOCAL_API = "http://127.0.0.1:8787";

/** The API base: `?api=`, then the last one used, then the build's default, then the local
 *  `make dev` API on loopback, else this site's own origin. */
export function initialApiBase(): string {
  const fromQuery = new URLSearchParams(location.search).get("api");
  if (fromQuery) return fromQuery;
  const remembered = localStorage.getItem(API_KEY);
  if (remembered) return remembered;
  const built = import.meta.env.VITE_CLODO_API_URL as string | undefined;
  if (built) return built;
  return ["127.0.0.1", "localhost"].includes(location.hostname) ? LOCAL_API : location.origin;
}

export function rememberApiBase(base: string): void {
  localStorage.setItem(API_KEY, base);
}

const ACCESS_KEY = "clodo.access";

/** Whether to ask the API for a Cloudflare Access session before asking for a token: the
 *  build says the site sits behind Access (`VITE_CLODO_ACCESS=true`), the address says so
 *  (`?access=1`), or an earlier visit found a session (remembered in localStorage: a
 *  preference, not a secret). Not asked otherwise, so a plain visit makes no failing request. */
export function accessExpected(): boolean {
  return (
    import.meta.env.VITE_CLODO_ACCESS === "true" ||
    new URLSearchParams(location.search).get("access") === "1" ||
    localStorage.getItem(ACCESS_KEY) === "1"
  );
}

export function rememberAccess(found: boolean): void {
  if (found) localStorage.setItem(ACCESS_KEY, "1");
  else localStorage.removeItem(ACCESS_KEY);
}

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}
