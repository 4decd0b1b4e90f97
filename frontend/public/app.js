// The Clodo dashboard: reads the control plane's public status endpoints and renders them.
// The API base comes from `?api=`, then the last one used (localStorage), then the local
// default of `make dev`; on a deployed site with none of those, the page's own origin.

const LOCAL_API = "http://127.0.0.1:8787";

function initialApiBase() {
  const fromQuery = new URLSearchParams(location.search).get("api");
  if (fromQuery) return fromQuery;
  const remembered = localStorage.getItem("clodo.api");
  if (remembered) return remembered;
  const local = ["127.0.0.1", "localhost"].includes(location.hostname);
  return local ? LOCAL_API : location.origin;
}

async function getJson(base, path) {
  const response = await fetch(new URL(path, base), { headers: { accept: "application/json" } });
  const body = await response.json().catch(() => null);
  return { status: response.status, body };
}

function setConnection(text, state) {
  const el = document.getElementById("connection");
  el.textContent = text;
  el.className = state;
}

function renderVersion(info) {
  const dl = document.getElementById("version");
  for (const dd of dl.querySelectorAll("dd")) {
    dd.textContent = info[dd.dataset.field] ?? "none applied";
  }
  dl.hidden = false;
}

function renderChecks(checks) {
  const tbody = document.querySelector("#checks tbody");
  tbody.replaceChildren();
  for (const [name, check] of Object.entries(checks ?? {})) {
    const row = tbody.insertRow();
    row.insertCell().textContent = name.replace("_", " ");
    const state = row.insertCell();
    state.textContent = check.ok ? "ready" : "failing";
    state.className = check.ok ? "ok" : "bad";
    row.insertCell().textContent =
      check.error ?? check.schema_version ??
      (check.written_at !== undefined ? `storage written ${new Date(check.written_at).toISOString()}` : "");
  }
}

async function refresh(base) {
  setConnection(`Connecting to ${base}…`, "pending");
  try {
    const [version, ready] = await Promise.all([
      getJson(base, "/api/v1/version"),
      getJson(base, "/readyz"),
    ]);
    if (version.status !== 200) {
      const message = version.body?.error?.message ?? `HTTP ${version.status}`;
      setConnection(`The API at ${base} answered with an error: ${message}`, "bad");
      return;
    }
    renderVersion(version.body);
    renderChecks(ready.body?.checks);
    const isReady = ready.status === 200;
    setConnection(
      isReady ? `Connected to ${base}: ready` : `Connected to ${base}: not ready`,
      isReady ? "ok" : "bad",
    );
  } catch (err) {
    setConnection(`Cannot reach the API at ${base} (${err.message}). Is \`make dev\` running?`, "bad");
  }
}

const input = document.getElementById("api-url");
input.value = initialApiBase();
document.getElementById("api-form").addEventListener("submit", (event) => {
  event.preventDefault();
  localStorage.setItem("clodo.api", input.value);
  refresh(input.value);
});
refresh(input.value);
