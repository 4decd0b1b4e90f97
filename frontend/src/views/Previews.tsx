// Preview deployments of one environment (`clodo deploy --preview`): the branch, the commit and
// the URL each Pages preview is served at, newest first.
import { useEffect, useState } from "preact/hooks";
import { get, path, type Api, type Schemas } from "../api/client";
import { Empty, ErrorNote } from "../components/ui";
import { Head } from "../components/paging";
import { ago, shortSha } from "../format";

/** Only http(s) URLs become links: a recorded URL is user input. */
const safeHref = (url: string) => (/^https?:\/\//i.test(url) ? url : undefined);

export function Previews({ api, project, environment }: { api: Api; project: string; environment: string }) {
  const [list, setList] = useState<Schemas["PreviewList"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    setList(null);
    if (!project || !environment) return;
    get<Schemas["PreviewList"]>(api, path`/api/v1/projects/${project}/environments/${environment}/previews`)
      .then((l) => live && (setList(l), setError(null)))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [api.base, api.token, project, environment]);
  if (!project || !environment) return <p class="muted">Open previews from an environment on the overview.</p>;
  return (
    <section aria-labelledby="previews-title">
      <h2 id="previews-title">
        Previews of {project} / {environment}
      </h2>
      <ErrorNote error={error} />
      {list && list.items.length === 0 && (
        <Empty title="No previews yet">
          <p>
            Ship a branch with <code>clodo deploy --env {environment} --preview</code>.
          </p>
        </Empty>
      )}
      {list && list.items.length > 0 && (
        <table class="grid" id="previews">
          <Head columns={["Branch", "Site", "Commit", "URL", "By", "When"]} />
          <tbody>
            {list.items.map((p) => (
              <tr key={p.id} data-id={p.id}>
                <td class="mono">{p.branch}</td>
                <td>
                  {p.service} <span class="muted">({p.pages_project})</span>
                </td>
                <td class="mono">{shortSha(p.git_sha)}</td>
                <td class="message">
                  <a href={safeHref(p.url)} rel="noopener noreferrer" target="_blank">
                    {p.url}
                  </a>
                </td>
                <td>{p.created_by}</td>
                <td>{ago(p.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
