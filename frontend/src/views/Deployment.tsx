// One deployment: what it ships, its approvals and event log, and its rollout followed live
// (the Rollout object's WebSocket; polling every 2 s when it is unavailable) with the traffic chart, plus the actions a person takes:
// approve, pause, resume, promote, abort, each behind a confirmation.
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, get, path, post, type Api, type DeploymentDetail, type Me, type RolloutStatus, type Schemas } from "../api/client";
import { Head } from "../components/paging";
import { Badge, Confirm, ErrorNote, type ConfirmRequest } from "../components/ui";
import { TrafficChart, type TrafficPoint } from "../components/TrafficChart";
import { MetricChart } from "../components/MetricChart";
import { ago, shortSha, when } from "../format";

const RANK: Record<Schemas["Role"], number> = { viewer: 0, deployer: 1, approver: 2, admin: 3 };
const allows = (me: Me, needed: Schemas["Role"]) => RANK[me.role] >= RANK[needed];
const FINISHED = ["succeeded", "failed", "rolled_back", "cancelled"];
const HAS_ROLLOUT = ["deploying", "verifying", "succeeded", "failed", "rolled_back"];

export function Deployment({ api, me, id }: { api: Api; me: Me; id: string }) {
  const [detail, setDetail] = useState<DeploymentDetail | null>(null);
  const [uploads, setUploads] = useState<Schemas["RecordedUpload"][]>([]);
  const [rollout, setRollout] = useState<RolloutStatus | null>(null);
  const [points, setPoints] = useState<TrafficPoint[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const tick = useRef(0);

  const [feed, setFeed] = useState<"websocket" | "polling" | "idle">("idle");

  /** A rollout status from either feed: shown, and a new point on the chart when the split moved. */
  const apply = (r: RolloutStatus | null) => {
    setRollout(r);
    if (r && r.traffic_percent !== null) {
      const percent = r.traffic_percent;
      setPoints((old) => {
        const start = old.length === 0 ? [{ at: r.started_at, percent: 0 }] : old;
        const last = start[start.length - 1];
        return last.percent === percent ? start : [...start, { at: Date.now(), percent }];
      });
    }
  };

  const loadDetail = async () => {
    const d = await get<DeploymentDetail>(api, path`/api/v1/deployments/${id}`);
    setDetail(d);
    return d;
  };

  const refresh = async () => {
    const d = await loadDetail();
    const [u, r] = await Promise.all([
      get<Schemas["UploadList"]>(api, path`/api/v1/deployments/${id}/services`).catch(() => null),
      // Only a deployment that reached `deploying` can have a rollout.
      !HAS_ROLLOUT.includes(d.status) ? null : get<RolloutStatus>(api, path`/api/v1/deployments/${id}/rollout`).catch((e) => {
        if (e instanceof ApiError && (e.status === 404 || e.status === 409)) return null;
        throw e;
      }),
    ]);
    if (u) setUploads(u.items);
    apply(r);
    return { d, r };
  };

  // The live feed: the Rollout object's WebSocket (a single-use ticket from an authenticated
  // POST opens it, since a browser cannot send the token on a socket); while it is open
  // nothing polls. Before the rollout starts, or when the socket drops, the page polls every
  // 2 s and tries the socket again at most every 10 s.
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let socket: WebSocket | null = null;
    let lastTry = 0;
    setPoints([]);
    setFeed("idle");

    const openSocket = async (): Promise<boolean> => {
      lastTry = Date.now();
      let ticket: Schemas["LiveTicket"];
      try {
        ticket = await post<Schemas["LiveTicket"]>(api, path`/api/v1/deployments/${id}/rollout/live/ticket`);
      } catch {
        return false;
      }
      if (!live) return false;
      const url = new URL(ticket.path, api.base);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      url.searchParams.set("ticket", ticket.secret);
      return new Promise<boolean>((resolve) => {
        const ws = new WebSocket(url);
        let shown = "";
        ws.onopen = () => {
          if (!live) return ws.close(1000);
          socket = ws;
          setFeed("websocket");
          resolve(true);
        };
        ws.onmessage = (message) => {
          let r: RolloutStatus;
          try {
            r = JSON.parse(String(message.data)) as RolloutStatus;
          } catch {
            return;
          }
          apply(r);
          // The deployment's own record (status, events) moves with the rollout's phase and step.
          const mark = `${r.phase}/${r.step}/${r.finished_at ?? ""}`;
          if (mark !== shown) {
            shown = mark;
            loadDetail().catch(setError);
          }
        };
        ws.onclose = () => {
          resolve(false);
          if (socket !== ws) return;
          socket = null;
          if (!live) return;
          // Ended (the object closes the socket with the final status) or dropped: one
          // refresh says which; polling carries on if it is still running.
          setFeed("polling");
          clearTimeout(timer);
          timer = setTimeout(loop, 0);
        };
      });
    };

    const loop = async () => {
      tick.current += 1;
      try {
        const { d, r } = await refresh();
        if (!live) return;
        setError(null);
        if (FINISHED.includes(d.status) && (!r || r.finished_at)) {
          setFeed("idle");
          return;
        }
        if (r && !r.finished_at && !socket && Date.now() - lastTry > 10000 && (await openSocket())) return;
        if (!live || socket) return;
        setFeed("polling");
        timer = setTimeout(loop, 2000);
      } catch (e) {
        if (live) setError(e);
        timer = setTimeout(loop, 5000);
      }
    };
    loop();
    return () => {
      live = false;
      clearTimeout(timer);
      socket?.close(1000);
    };
  }, [api.base, api.token, id]);

  const act = (request: Omit<ConfirmRequest, "run"> & { call: (comment: string) => Promise<unknown> }) =>
    setConfirm({
      ...request,
      run: async (comment) => {
        setActionError(null);
        try {
          await request.call(comment);
          await refresh();
        } catch (e) {
          setActionError(e);
        }
      },
    });

  if (error && !detail) return <ErrorNote error={error} />;
  if (!detail) return <p class="muted" role="status">Loading deployment…</p>;
  const d = detail;
  const steer = (command: "pause" | "resume" | "promote" | "abort", title: string, body: string, danger = false) =>
    act({ title, body, action: title, danger, call: () => post(api, path`/api/v1/deployments/${id}/rollout/${command}`) });
  const phase = rollout?.phase;
  const steering = allows(me, "deployer") && rollout && !rollout.finished_at;

  return (
    <article aria-labelledby="deployment-title">
      <p>
        <a href="#/history">← History</a>
      </p>
      <h2 id="deployment-title">
        {d.project} / {d.environment} <Badge status={d.status} />
      </h2>
      <dl class="facts">
        <dt>Deployment</dt>
        <dd class="mono">{d.id}</dd>
        <dt>Commit</dt>
        <dd class="mono">
          {shortSha(d.git_sha)} {d.git_ref && <span class="muted">({d.git_ref})</span>}
        </dd>
        <dt>Message</dt>
        <dd>{d.message ?? <span class="muted">none</span>}</dd>
        <dt>Requested by</dt>
        <dd>
          {d.requested_by} · {when(d.created_at)}
        </dd>
        <dt>Strategy</dt>
        <dd>{d.strategy}</dd>
        {d.promoted_from && (
          <>
            <dt>Promoted from</dt>
            <dd>
              <a href={`#/deployments/${encodeURIComponent(d.promoted_from)}`}>{d.promoted_from}</a>
            </dd>
          </>
        )}
      </dl>
      <ErrorNote error={actionError} />
      <div class="actions" aria-label="Actions">
        <a class="button" href={`#/compare?b=${encodeURIComponent(d.id)}${d.promoted_from ? `&a=${encodeURIComponent(d.promoted_from)}` : ""}`}>
          Compare…
        </a>
        {d.status === "awaiting_approval" && allows(me, "approver") && (
          <button
            type="button"
            class="primary"
            onClick={() =>
              act({
                title: "Approve",
                body: `Approve ${d.project} / ${d.environment} at ${shortSha(d.git_sha)}? It needs ${d.required_approvals} approval(s) from people other than the requester.`,
                action: "Approve",
                comment: true,
                call: (comment) => post(api, path`/api/v1/deployments/${id}/approvals`, { comment: comment || null }),
              })
            }
          >
            Approve…
          </button>
        )}
        {steering && phase === "running" && (
          <button type="button" onClick={() => steer("pause", "Pause", "Hold the traffic where it is until someone resumes.")}>
            Pause…
          </button>
        )}
        {steering && phase === "paused" && (
          <button type="button" onClick={() => steer("resume", "Resume", "Continue through the remaining steps.")}>
            Resume…
          </button>
        )}
        {steering && (phase === "running" || phase === "paused") && (
          <>
            <button type="button" onClick={() => steer("promote", "Promote", "Send 100% of traffic to the new version now, skipping the remaining steps.")}>
              Promote…
            </button>
            <button
              type="button"
              class="danger"
              onClick={() => steer("abort", "Abort and roll back", "Put every service back on its previous version.", true)}
            >
              Abort…
            </button>
          </>
        )}
      </div>

      {rollout && (
        <section aria-labelledby="rollout-title" class="card">
          <h3 id="rollout-title">
            Rollout <Badge status={rollout.phase} />
          </h3>
          <p id="traffic" aria-live="polite">
            {rollout.traffic_percent === null
              ? "No traffic split yet"
              : `${rollout.traffic_percent}% on the new version`}
            {rollout.steps.length > 0 && (
              <span class="muted">
                {" "}
                · step {Math.min(rollout.step + 1, rollout.steps.length)} of {rollout.steps.length} ({rollout.steps.join("% → ")}%)
              </span>
            )}
          </p>
          {feed !== "idle" && (
            <p id="feed" class="muted">
              {feed === "websocket" ? "Live: updates arrive over a WebSocket" : "Live: checking every 2 s (the WebSocket is unavailable; retrying)"}
            </p>
          )}
          {rollout.reason && <p class="muted">{rollout.reason}</p>}
          {points.length > 0 && <TrafficChart points={points} />}
          {rollout.analysis.length > 0 && (
            <table class="grid">
              <caption>Analysis</caption>
              <Head columns={["Metric", "Passes when", "Passed", "Failed", "Inconclusive", "Errors"]} />
              <tbody>
                {rollout.analysis.map((m) => (
                  <tr key={m.name}>
                    <td>{m.name}</td>
                    <td class="mono">{m.condition ?? (m.failure_condition ? `not ${m.failure_condition}` : "—")}</td>
                    <td>{m.successful}</td>
                    <td class={m.failed > 0 ? "tone-bad" : ""}>
                      {m.failed} / {m.failure_limit} allowed
                    </td>
                    <td>{m.inconclusive}</td>
                    <td>{m.errors}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {rollout.analysis.some((m) => m.services.some((s) => s.samples.length > 0)) && (
            <section id="analysis-charts" aria-labelledby="analysis-charts-title">
              <h4 id="analysis-charts-title">Each version against the analysis thresholds</h4>
              {rollout.analysis.flatMap((m) =>
                m.services
                  .filter((s) => s.samples.length > 0)
                  .map((s) => <MetricChart key={`${m.name}/${s.service}`} analysis={m} service={s} />),
              )}
            </section>
          )}
          <h4>Rollout log</h4>
          <ol class="log" reversed>
            {[...rollout.log].reverse().map((entry) => (
              <li key={entry.seq}>
                <time dateTime={new Date(entry.at_ms).toISOString()}>{ago(entry.at_ms)}</time> <span class="muted">{entry.kind}</span>{" "}
                {entry.message}
              </li>
            ))}
          </ol>
        </section>
      )}

      {uploads.length > 0 && (
        <section aria-labelledby="services-title">
          <h3 id="services-title">Services</h3>
          <table class="grid">
            <Head columns={["Service", "Worker", "New version", "Previous version"]} />
            <tbody>
              {uploads.map((u) => (
                <tr key={u.service}>
                  <td>{u.service}</td>
                  <td class="mono">{u.script}</td>
                  <td class="mono">{u.version_id}</td>
                  <td class="mono">{u.previous_version_id ?? <span class="muted">new Worker</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}

      <section aria-labelledby="approvals-title">
        <h3 id="approvals-title">Approvals</h3>
        {d.approvals.length === 0 ? (
          <p class="muted">
            {d.required_approvals > 0 ? `None yet; ${d.required_approvals} needed.` : "None needed."}
          </p>
        ) : (
          <ul class="approvals">
            {d.approvals.map((a) => (
              <li key={a.id}>
                <strong>{a.actor}</strong> ({a.role}) · {ago(a.created_at)}
                {a.comment && <blockquote>{a.comment}</blockquote>}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section aria-labelledby="events-title">
        <h3 id="events-title">Events</h3>
        <ol class="log">
          {d.events.map((e) => (
            <li key={e.id}>
              <time dateTime={new Date(e.at).toISOString()}>{when(e.at)}</time> <span class="muted">{e.kind}</span>{" "}
              {e.from_status && e.to_status ? `${e.from_status} → ${e.to_status}` : (e.to_status ?? "")}
            </li>
          ))}
        </ol>
      </section>
      <Confirm request={confirm} onClose={() => setConfirm(null)} />
    </article>
  );
}
