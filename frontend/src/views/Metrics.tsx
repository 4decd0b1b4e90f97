// DORA metrics of one environment over a window: a card per metric with DORA's band, and the
// daily deployments chart with the elite frequency line (one a day) marked.
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { get, query, type Api, type Schemas } from "../api/client";
import { ErrorNote } from "../components/ui";

type Report = Schemas["DoraReport"];
type Figure = Schemas["Figure"];

export function value(f: Figure): string {
  if (f.value === null) return "not measured";
  if (f.unit === "per_day") return `${f.value.toFixed(2)} / day`;
  if (f.unit === "ratio") return `${(f.value * 100).toFixed(1)}%`;
  const s = f.value / 1000;
  if (s < 120) return `${s.toFixed(0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(0)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

const BANDS = ["low", "medium", "high", "elite"] as const;

const CARDS: [keyof Report, string][] = [
  ["deployment_frequency", "Deployment frequency"],
  ["change_lead_time", "Change lead time"],
  ["change_fail_rate", "Change fail rate"],
  ["failed_deployment_recovery_time", "Failed deployment recovery time"],
  ["deployment_rework_rate", "Deployment rework rate"],
  ["success_rate", "Success rate"],
  ["median_deploy_duration", "Median deploy duration"],
  ["time_to_rollback", "Time to rollback"],
];

function DailyChart({ daily }: { daily: Schemas["DoraDay"][] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const bars = uPlot.paths.bars?.({ size: [0.6, 40] });
    const plot = new uPlot(
      {
        width: Math.min(box.current.clientWidth || 640, 760),
        height: 220,
        series: [
          {},
          { label: "succeeded", stroke: "#1a7f37", fill: "rgba(26,127,55,0.35)", paths: bars },
          { label: "failed or rolled back", stroke: "#cf222e", fill: "rgba(207,34,46,0.35)", paths: bars },
          { label: "elite: at least one a day", stroke: "#8a4600", dash: [6, 4], width: 1, points: { show: false } },
        ],
        axes: [{ stroke: "currentColor" }, { stroke: "currentColor" }],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(2, Math.ceil(max))] } },
      },
      [daily.map((d) => d.day / 1000), daily.map((d) => d.succeeded), daily.map((d) => d.failed), daily.map(() => 1)],
      box.current,
    );
    return () => plot.destroy();
  }, [daily]);
  return (
    <figure class="chart">
      <div ref={box} role="img" aria-label="Deployments per day: succeeded and failed, with the elite line at one a day" />
      <figcaption class="muted">Deployments per day (UTC); dashed: DORA's elite frequency</figcaption>
    </figure>
  );
}

export function Metrics({ api, project, environment, days }: { api: Api; project: string; environment: string; days: string }) {
  const [report, setReport] = useState<Report | null>(null);
  const [error, setError] = useState<unknown>(null);
  // Every change reads the whole form, so two quick edits never undo each other.
  const apply = (form: HTMLFormElement | null) => {
    if (!form) return;
    const data = new FormData(form);
    const q = new URLSearchParams();
    for (const name of ["project", "environment", "days"]) q.set(name, data.get(name)?.toString().trim() ?? "");
    location.hash = `#/metrics?${q.toString()}`;
  };
  useEffect(() => {
    let live = true;
    setReport(null);
    if (!project || !environment) return;
    get<Report>(api, "/api/v1/metrics/dora" + query({ project, environment, days }))
      .then((r) => live && (setReport(r), setError(null)))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [api.base, api.token, project, environment, days]);
  return (
    <section aria-labelledby="metrics-title">
      <h2 id="metrics-title">DORA metrics</h2>
      <form class="filters" aria-label="Choose what to measure" onSubmit={(e) => e.preventDefault()}>
        <label class="field">
          Project
          <input name="project" value={project} onChange={(e) => apply(e.currentTarget.form)} />
        </label>
        <label class="field">
          Environment
          <input name="environment" value={environment} onChange={(e) => apply(e.currentTarget.form)} />
        </label>
        <label class="field">
          Window
          <select name="days" value={days} onChange={(e) => apply(e.currentTarget.form)}>
            {["7", "30", "90", "365"].map((d) => (
              <option key={d} value={d}>
                {d} days
              </option>
            ))}
          </select>
        </label>
      </form>
      {(!project || !environment) && <p class="muted">Choose a project and an environment (DORA measures production).</p>}
      <ErrorNote error={error} />
      {report && (
        <>
          <p class="muted">
            {report.deployments} deployments finished in the window. Bands are DORA's published clusters: context, not targets.
          </p>
          <div class="cards">
            {CARDS.map(([key, title]) => {
              const f = report[key] as Figure;
              return (
                <div class="card metric" key={key} data-metric={key}>
                  <h3>{title}</h3>
                  <p class="figure">{value(f)}</p>
                  {f.band && (
                    <ol class="bands" aria-label={`DORA performance bands; this one is ${f.band}`}>
                      {BANDS.map((b) => (
                        <li key={b} class={`band-${b}`} aria-current={b === f.band ? "true" : undefined}>
                          {b}
                        </li>
                      ))}
                    </ol>
                  )}
                  <p class="muted small">
                    from {f.sample} deployment{f.sample === 1 ? "" : "s"}
                    {f.note && <> · {f.note}</>}
                  </p>
                </div>
              );
            })}
          </div>
          <DailyChart daily={report.daily} />
        </>
      )}
    </section>
  );
}
