// Every project and environment at a glance: the Cloudflare account, who holds the deploy
// lock and who waits, and the last deployment; deployers roll an environment back from here,
// behind a confirmation (the server picks the target from its own records).
import { useEffect, useState } from "preact/hooks";
import { get, path, post, query, type Api, type Deployment, type Me, type Schemas } from "../api/client";
import { Head } from "../components/paging";
import { Badge, Confirm, Empty, ErrorNote, type ConfirmRequest } from "../components/ui";
import { ago, shortSha } from "../format";

interface EnvironmentRow {
  project: Schemas["ProjectDetail"];
  environment: Schemas["Environment"];
  lock: Schemas["LockInfo"] | null;
  last: Deployment | null;
}

async function load(api: Api): Promise<EnvironmentRow[]> {
  const projects = await get<Schemas["ProjectList"]>(api, "/api/v1/projects");
  const details = await Promise.all(
    projects.items.map((p) => get<Schemas["ProjectDetail"]>(api, path`/api/v1/projects/${p.slug}`)),
  );
  const rows = details.flatMap((project) => project.environments.map((environment) => ({ project, environment })));
  return Promise.all(
    rows.map(async ({ project, environment }) => {
      const [lock, history] = await Promise.all([
        get<Schemas["LockInfo"]>(api, path`/api/v1/projects/${project.slug}/environments/${environment.name}/lock`).catch(() => null),
        get<Schemas["DeploymentPage"]>(
          api,
          "/api/v1/deployments" + query({ project: project.slug, environment: environment.name, limit: 1 }),
        ),
      ]);
      return { project, environment, lock, last: history.items[0] ?? null };
    }),
  );
}

const CAN_ROLL_BACK: Schemas["Role"][] = ["deployer", "approver", "admin"];

export function Overview({ api, me }: { api: Api; me: Me }) {
  const [rows, setRows] = useState<EnvironmentRow[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [outcome, setOutcome] = useState<{ env: string; text: string; failed: boolean } | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const refresh = () =>
      load(api)
        .then((r) => live && (setRows(r), setError(null)))
        .catch((e) => live && setError(e));
    refresh();
    const timer = setInterval(refresh, 10000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [api.base, api.token, tick]);
  const rollBack = (project: string, environment: string) =>
    setConfirm({
      title: `Roll ${project} ${environment} back?`,
      body:
        "Every Worker goes back to the versions of the last good deployment before the live one (after a failed " +
        "deployment: to what served before it), at 100% at once, " +
        "holding the environment's deploy lock. Pages sites and D1 data are not touched (use clodo rollback for those).",
      action: "Roll back",
      danger: true,
      comment: true,
      run: async (reason) => {
        const env = `${project}/${environment}`;
        try {
          const done = await post<Schemas["EnvironmentRollback"]>(
            api,
            path`/api/v1/projects/${project}/environments/${environment}/rollback`,
            reason.trim() ? { reason: reason.trim() } : {},
          );
          setOutcome({ env, text: done.message, failed: done.deployment.status !== "succeeded" });
        } catch (e) {
          setOutcome({ env, text: e instanceof Error ? e.message : String(e), failed: true });
        }
        setTick((t) => t + 1);
      },
    });
  if (error) return <ErrorNote error={error} />;
  if (!rows) return <p class="muted" role="status">Loading projects…</p>;
  if (rows.length === 0)
    return (
      <Empty title="No projects yet">
        <p>
          Create one with <code>clodo init</code> in a repository, then <code>clodo deploy</code>.
        </p>
      </Empty>
    );
  return (
    <section aria-labelledby="overview-title">
      <h2 id="overview-title">Environments</h2>
      <table class="grid">
        <Head columns={["Project", "Environment", "Cloudflare account", "Deploy lock", "Last deployment", "Actions"]} />
        <tbody>
          {rows.map(({ project, environment, lock, last }) => (
            <tr key={environment.id} data-env={`${project.slug}/${environment.name}`}>
              <td>{project.name}</td>
              <td>
                <a href={`#/history?project=${encodeURIComponent(project.slug)}&environment=${encodeURIComponent(environment.name)}`}>
                  {environment.name}
                </a>{" "}
                <a
                  class="small"
                  href={`#/metrics?project=${encodeURIComponent(project.slug)}&environment=${encodeURIComponent(environment.name)}&days=30`}
                  aria-label={`DORA metrics of ${project.slug} ${environment.name}`}
                >
                  metrics
                </a>{" "}
                <a
                  class="small"
                  href={`#/previews?project=${encodeURIComponent(project.slug)}&environment=${encodeURIComponent(environment.name)}`}
                  aria-label={`Preview deployments of ${project.slug} ${environment.name}`}
                >
                  previews
                </a>
              </td>
              <td class="mono">{environment.cloudflare_account_id ?? <span class="muted">not bound</span>}</td>
              <td>
                {lock === null ? (
                  <span class="muted">unknown</span>
                ) : lock.holder ? (
                  <span>
                    held by <a href={`#/deployments/${encodeURIComponent(lock.holder.holder_id)}`}>{lock.holder.actor}</a>
                    {lock.queue.length > 0 && <span class="muted"> · {lock.queue.length} waiting</span>}
                  </span>
                ) : (
                  <span class="muted">free</span>
                )}
              </td>
              <td>
                {last ? (
                  <a href={`#/deployments/${encodeURIComponent(last.id)}`}>
                    <Badge status={last.status} /> {shortSha(last.git_sha)} · {ago(last.created_at)}
                  </a>
                ) : (
                  <span class="muted">none yet</span>
                )}
              </td>
              <td>
                {CAN_ROLL_BACK.includes(me.role) ? (
                  <button
                    type="button"
                    class="small danger"
                    onClick={() => rollBack(project.slug, environment.name)}
                    aria-label={`Roll ${project.slug} ${environment.name} back`}
                  >
                    Roll back
                  </button>
                ) : (
                  <span class="muted small">deployers roll back</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {outcome && (
        <p class={outcome.failed ? "note bad" : "note ok"} role="status" data-rollback-outcome={outcome.env}>
          {outcome.env}: {outcome.text}
        </p>
      )}
      <Confirm request={confirm} onClose={() => setConfirm(null)} />
    </section>
  );
}
