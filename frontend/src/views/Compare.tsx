// Two deployments side by side (#/compare?a=OLDER&b=NEWER): what each shipped, what differs
// (versions, compatibility dates, bindings, services — the snapshots `clodo diff` reads), the
// git range, and each service's error rate and p50/p99 latency under each deployment from
// Workers analytics. A number the server could not measure is shown as "not measured" with its
// reason, never as a zero.
import { useEffect, useState } from "preact/hooks";
import { get, path, query, type Api, type Schemas } from "../api/client";
import { Head } from "../components/paging";
import { Badge, Empty, ErrorNote } from "../components/ui";
import { shortSha, when } from "../format";

type Comparison = Schemas["Comparison"];
type Measured = Schemas["Measured"];

export function Compare({ api, a, b }: { api: Api; a: string; b: string }) {
  const [result, setResult] = useState<Comparison | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (!a || !b) return;
    let live = true;
    setResult(null);
    setError(null);
    get<Comparison>(api, path`/api/v1/deployments/${a}/compare/${b}`)
      .then((r) => live && setResult(r))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [api.base, api.token, a, b]);

  return (
    <section aria-labelledby="compare-title">
      <h2 id="compare-title">Compare deployments</h2>
      <Choose api={api} a={a} b={b} />
      {!a || !b ? (
        <Empty title="Choose two deployments">
          <p>Pick the older one as “before” and the newer one as “after”, or open a deployment and follow “Compare…”.</p>
        </Empty>
      ) : error ? (
        <ErrorNote error={error} />
      ) : !result ? (
        <p class="muted" role="status">
          Comparing…
        </p>
      ) : (
        <Result c={result} />
      )}
    </section>
  );
}

/** The two ids; "before" offers the recent deployments of the "after" one's environment. */
function Choose({ api, a, b }: { api: Api; a: string; b: string }) {
  const [recent, setRecent] = useState<Schemas["Deployment"][]>([]);
  useEffect(() => {
    if (!b) return;
    let live = true;
    get<Schemas["DeploymentDetail"]>(api, path`/api/v1/deployments/${b}`)
      .then((d) => get<Schemas["DeploymentPage"]>(api, "/api/v1/deployments" + query({ project: d.project, environment: d.environment, limit: 25 })))
      .then((p) => live && setRecent(p.items.filter((x) => x.id !== b)))
      .catch(() => live && setRecent([]));
    return () => {
      live = false;
    };
  }, [api.base, api.token, b]);
  return (
    <form
      class="filters"
      aria-label="Deployments to compare"
      onSubmit={(event) => {
        event.preventDefault();
        const data = new FormData(event.currentTarget);
        const field = (n: string) => data.get(n)?.toString().trim() ?? "";
        location.hash = `#/compare${query({ a: field("a"), b: field("b") })}`;
      }}
    >
      <label class="field">
        Before (deployment id)
        <input name="a" list="compare-recent" defaultValue={a} required spellcheck={false} autocomplete="off" />
      </label>
      <datalist id="compare-recent">
        {recent.map((d) => (
          <option key={d.id} value={d.id}>
            {`${d.status} · ${shortSha(d.git_sha)} · ${when(d.created_at)}`}
          </option>
        ))}
      </datalist>
      <label class="field">
        After (deployment id)
        <input name="b" defaultValue={b} required spellcheck={false} autocomplete="off" />
      </label>
      <button type="submit" class="primary">
        Compare
      </button>
    </form>
  );
}

function Result({ c }: { c: Comparison }) {
  const side = (title: string, s: Comparison["from"]) => (
    <div class="card">
      <h3>
        {title}:{" "}
        <a href={`#/deployments/${encodeURIComponent(s.deployment.id)}`} class="mono">
          {s.deployment.id}
        </a>{" "}
        <Badge status={s.deployment.status} />
      </h3>
      <p>
        {s.deployment.project} / {s.deployment.environment} · <span class="mono">{shortSha(s.deployment.git_sha)}</span> ·{" "}
        {when(s.deployment.created_at)}
      </p>
      {s.deployment.message && <p class="muted">{s.deployment.message}</p>}
      {s.services.length === 0 ? (
        <p class="muted">Shipped no Worker versions (it never reached verifying).</p>
      ) : (
        <ul class="plain">
          {s.services.map((x) => (
            <li key={x.service}>
              {x.service}: <span class="mono">{x.new_version}</span>
              {x.compatibility_date && <span class="muted"> · {x.compatibility_date}</span>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
  const g = c.git;
  return (
    <>
      <div class="pair">
        {side("Before", c.from)}
        {side("After", c.to)}
      </div>

      <section aria-labelledby="diff-title">
        <h3 id="diff-title">Differences</h3>
        {c.differences.length === 0 ? (
          <p class="muted">No differences in versions, compatibility dates, bindings or services.</p>
        ) : (
          <table class="grid" id="differences">
            <Head columns={["Service", "What", "Before", "After"]} />
            <tbody>
              {c.differences.map((d, i) => (
                <tr key={i}>
                  <td>{d.service}</td>
                  <td>{d.what.replace(/_/g, " ")}</td>
                  <td class="mono">{d.before ?? <span class="muted">none</span>}</td>
                  <td class="mono">{d.after ?? <span class="muted">none</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section aria-labelledby="git-title">
        <h3 id="git-title">Git range</h3>
        {!g.from_sha || !g.to_sha ? (
          <p class="muted">A deployment has no recorded commit (deployed without git), so there is no range.</p>
        ) : g.from_sha === g.to_sha ? (
          <p>
            Same commit <span class="mono">{shortSha(g.to_sha)}</span>.
          </p>
        ) : (
          <>
            <p>
              <code>
                git log --oneline {g.from_sha}..{g.to_sha}
              </code>
            </p>
            {g.compare_url ? (
              <p>
                <a href={g.compare_url} rel="noopener noreferrer" target="_blank">
                  The range on GitHub ({g.repository})
                </a>
              </p>
            ) : (
              <p class="muted">Run the command in the repository to list the commits; set up the GitHub integration for a link.</p>
            )}
          </>
        )}
      </section>

      <section aria-labelledby="perf-title">
        <h3 id="perf-title">Performance before and after</h3>
        {c.performance.unavailable ? (
          <p class="note">Not measured: {c.performance.unavailable}.</p>
        ) : (
          <>
            <p class="muted">
              Each deployment's versions over the first {Math.round(c.performance.window_ms / 60000)} min after it finished (until the next one
              started), from Workers analytics.
            </p>
            <table class="grid" id="performance">
              <Head columns={["Service", "", "Requests", "Error rate", "p50", "p99", "Note"]} />
              <tbody>
                {c.performance.services.flatMap((s) => [
                  <Row key={`${s.service}-b`} service={s.service} when="before" m={s.before} />,
                  <Row key={`${s.service}-a`} service="" when="after" m={s.after} />,
                ])}
              </tbody>
            </table>
          </>
        )}
      </section>
    </>
  );
}

const num = (v: number | null, f: (v: number) => string) => (v === null ? <span class="muted">not measured</span> : f(v));

function Row({ service, when: w, m }: { service: string; when: string; m: Measured }) {
  return (
    <tr>
      <td>{service}</td>
      <td>{w}</td>
      <td>{num(m.requests, (v) => v.toLocaleString())}</td>
      <td>{num(m.error_rate, (v) => `${(v * 100).toFixed(2)}%`)}</td>
      <td>{num(m.p50_ms, (v) => `${v.toFixed(1)} ms`)}</td>
      <td>{num(m.p99_ms, (v) => `${v.toFixed(1)} ms`)}</td>
      <td class="muted">{m.problem ?? ""}</td>
    </tr>
  );
}
