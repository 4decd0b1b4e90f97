// One analysis metric over the rollout, drawn with uPlot from the samples the Rollout object
// keeps (its last measurements per service): the new version's value, the previous version's
// over the same window (baseline metrics), and the thresholds the analysis judged them by.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Schemas } from "../api/client";

type Analysis = Schemas["AnalysisStatus"];

const PERCENT = new Set(["error_rate"]);

/** The metric's unit for the axis and the summary. */
function unit(metric: string): (v: number) => string {
  if (PERCENT.has(metric)) return (v) => `${+(v * 100).toFixed(3)}%`;
  if (metric.includes("latency") || metric.includes("duration") || metric.includes("cpu")) return (v) => `${+v.toFixed(1)} ms`;
  return (v) => `${+v.toFixed(3)}`;
}

/** The data with a lone sample given empty neighbours a minute either side: uPlot widens a
 *  one-point time axis by `86400 / ms` (with seconds, 86,400,000 s: one point drawn against
 *  "Mar 2027 … Jun 2029"), and the axis should show the minutes around it instead. */
export function padLone(data: uPlot.AlignedData): uPlot.AlignedData {
  if (data[0].length !== 1) return data;
  const t = data[0][0] as number;
  return [[t - 60, t, t + 60], ...data.slice(1).map((series) => [null, series[0] ?? null, null])] as uPlot.AlignedData;
}

export function MetricChart({ analysis, service }: { analysis: Analysis; service: Schemas["ServiceTally"] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const samples = service.samples;
  const show = unit(analysis.metric);
  const data = (): uPlot.AlignedData => padLone([
    samples.map((s) => s.at_ms / 1000),
    samples.map((s) => s.value ?? null),
    samples.map((s) => s.baseline ?? null),
    samples.map((s) => s.threshold ?? null),
    samples.map((s) => s.failure_threshold ?? null),
  ]);
  useEffect(() => {
    if (!box.current) return;
    plot.current = new uPlot(
      {
        width: Math.min(box.current.clientWidth || 640, 720),
        height: 180,
        axes: [{ stroke: "currentColor" }, { stroke: "currentColor", size: 70, values: (_u, ticks) => ticks.map(show) }],
        series: [
          {},
          { label: "new version", stroke: "#f38020", width: 2, points: { show: true } },
          { label: "previous version", stroke: "#6b7280", width: 2, points: { show: true } },
          { label: "pass threshold", stroke: "#15803d", width: 1.5, dash: [6, 4], points: { show: false } },
          { label: "fail threshold", stroke: "#b91c1c", width: 1.5, dash: [2, 3], points: { show: false } },
        ],
        legend: { show: false },
      },
      data(),
      box.current,
    );
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => plot.current?.setData(data()), [samples]);
  const last = samples[samples.length - 1];
  const summary = last
    ? `${analysis.name} of ${service.service}: new version ${last.value === null ? "no value" : show(last.value)}` +
      (last.baseline !== null ? `, previous version ${show(last.baseline)}` : "") +
      (last.threshold !== null ? `, passes ${analysis.condition ?? ""} (${show(last.threshold)})` : "") +
      (last.failure_threshold !== null ? `, fails ${analysis.failure_condition ?? ""} (${show(last.failure_threshold)})` : "")
    : `${analysis.name} of ${service.service}: no measurement yet`;
  return (
    <figure class="chart metric" data-metric={analysis.name} data-service={service.service}>
      <div ref={box} role="img" aria-label={summary} />
      <figcaption class="muted">
        <span class="key new">new version</span> <span class="key old">previous version</span>{" "}
        {analysis.condition && <span class="key pass" data-field="threshold">passes when {analysis.condition}</span>}{" "}
        {analysis.failure_condition && <span class="key fail" data-field="failure-threshold">fails when {analysis.failure_condition}</span>}
        <br />
        {summary}
      </figcaption>
    </figure>
  );
}
