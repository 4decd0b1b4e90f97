// The team's audit log, newest first, paginated by the server, with export as CSV or JSON
// lines (the same endpoint the CLI's `clodo audit --format` uses).
import { useState } from "preact/hooks";
import { download, get, query, type Api, type Schemas } from "../api/client";
import { Empty, ErrorNote } from "../components/ui";
import { Head, Pager, useCursorPages } from "../components/paging";
import { when } from "../format";

export function Audit({ api }: { api: Api }) {
  const [action, setAction] = useState("");
  const [exportError, setExportError] = useState<unknown>(null);
  const pages = useCursorPages(
    (cursor) => get<Schemas["AuditPage"]>(api, "/api/v1/audit" + query({ action, limit: 50, cursor })),
    `${api.base}|${api.token}|${action}`,
  );
  const { page } = pages;
  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log</h2>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter the audit log">
        <label class="field">
          Action
          <input
            name="action"
            placeholder="e.g. lock.force_unlock"
            value={action}
            onChange={(e) => setAction(e.currentTarget.value.trim())}
          />
        </label>
        <button type="button" onClick={() => download(api, "/api/v1/audit?format=csv", "clodo-audit.csv").catch(setExportError)}>
          Export CSV
        </button>
        <button type="button" onClick={() => download(api, "/api/v1/audit?format=jsonl", "clodo-audit.jsonl").catch(setExportError)}>
          Export JSON lines
        </button>
      </form>
      <ErrorNote error={pages.error ?? exportError} />
      {page && page.items.length === 0 && <Empty title="Nothing audited yet" />}
      {page && page.items.length > 0 && (
        <table class="grid">
          <Head columns={["When", "Who", "Action", "Target"]} />
          <tbody>
            {page.items.map((a) => (
              <tr key={a.id}>
                <td>{when(a.at)}</td>
                <td>{a.actor}</td>
                <td class="mono">{a.action}</td>
                <td class="mono">
                  {a.target_type} {a.target_id}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager {...pages} />
    </section>
  );
}
