// Deployment history, newest first, filtered and paginated by the server (cursor pages of
// 25); the filters live in the address so a filtered view can be shared.
import { get, query, type Api, type Schemas } from "../api/client";
import { Badge, Empty, ErrorNote } from "../components/ui";
import { Head, Pager, useCursorPages } from "../components/paging";
import { ago, duration, shortSha } from "../format";

const STATUSES: Schemas["DeploymentStatus"][] = [
  "requested",
  "assessing",
  "awaiting_approval",
  "queued",
  "deploying",
  "verifying",
  "succeeded",
  "failed",
  "rolled_back",
  "cancelled",
];
const PAGE = 25;

export interface HistoryFilters {
  project: string;
  environment: string;
  status: string;
}

export function History({
  api,
  filters,
  onFilter,
}: {
  api: Api;
  filters: HistoryFilters;
  onFilter: (f: HistoryFilters) => void;
}) {
  const key = `${filters.project}|${filters.environment}|${filters.status}`;
  const pages = useCursorPages(
    (cursor) => get<Schemas["DeploymentPage"]>(api, "/api/v1/deployments" + query({ ...filters, limit: PAGE, cursor })),
    `${api.base}|${api.token}|${key}`,
  );
  const { page, error } = pages;

  // Every change reads the whole form, so two quick edits never undo each other.
  const apply = (form: HTMLFormElement | null) => {
    if (!form) return;
    const data = new FormData(form);
    const field = (name: string) => data.get(name)?.toString().trim() ?? "";
    onFilter({ project: field("project"), environment: field("environment"), status: field("status") });
  };
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">Deployment history</h2>
      <form class="filters" role="search" aria-label="Filter deployments" onSubmit={(e) => e.preventDefault()}>
        <label class="field">
          Project
          <input name="project" value={filters.project} onChange={(e) => apply(e.currentTarget.form)} />
        </label>
        <label class="field">
          Environment
          <input name="environment" value={filters.environment} onChange={(e) => apply(e.currentTarget.form)} />
        </label>
        <label class="field">
          Status
          <select name="status" value={filters.status} onChange={(e) => apply(e.currentTarget.form)}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace(/_/g, " ")}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorNote error={error} />
      {!page && !error && <p class="muted" role="status">Loading deployments…</p>}
      {page && page.items.length === 0 && (
        <Empty title="No deployments match">
          <p>Clear a filter, or ship one with <code>clodo deploy</code>.</p>
        </Empty>
      )}
      {page && page.items.length > 0 && (
        <table class="grid" id="history">
          <Head columns={["Status", "Project / environment", "Commit", "Message", "By", "Strategy", "Requested", "Took"]} />
          <tbody>
            {page.items.map((d) => (
              <tr key={d.id} data-id={d.id}>
                <td>
                  <a href={`#/deployments/${encodeURIComponent(d.id)}`} aria-label={`Deployment ${d.id}`}>
                    <Badge status={d.status} />
                  </a>
                </td>
                <td>
                  {d.project} / {d.environment}
                </td>
                <td class="mono">{shortSha(d.git_sha)}</td>
                <td class="message">{d.message ?? ""}</td>
                <td>{d.requested_by}</td>
                <td>{d.strategy}</td>
                <td title={new Date(d.created_at).toISOString()}>{ago(d.created_at)}</td>
                <td>{duration(d.started_at, d.finished_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager {...pages} />
    </section>
  );
}
