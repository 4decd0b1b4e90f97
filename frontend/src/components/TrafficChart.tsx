// The new version's share of traffic over time, drawn with uPlot from the rollout statuses
// the page has seen (one point per change).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { padLone } from "./MetricChart";

export interface TrafficPoint {
  at: number;
  percent: number;
}

export function TrafficChart({ points }: { points: TrafficPoint[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = (): uPlot.AlignedData => padLone([points.map((p) => p.at / 1000), points.map((p) => p.percent)]);
  useEffect(() => {
    if (!box.current) return;
    plot.current = new uPlot(
      {
        width: Math.min(box.current.clientWidth || 640, 720),
        height: 200,
        scales: { y: { range: [0, 100] } },
        axes: [{ stroke: "currentColor" }, { stroke: "currentColor", values: (_u, ticks) => ticks.map((t) => `${t}%`) }],
        series: [{}, { label: "new version", stroke: "#f38020", width: 2, fill: "rgba(243,128,32,0.15)", paths: uPlot.paths.stepped?.({ align: 1 }) }],
        legend: { show: false },
      },
      data(),
      box.current,
    );
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => plot.current?.setData(data()), [points]);
  const last = points[points.length - 1];
  return (
    <figure class="chart">
      <div ref={box} role="img" aria-label={`Traffic on the new version over time; now ${last ? last.percent : 0}%`} />
      <figcaption class="muted">Share of traffic on the new version</figcaption>
    </figure>
  );
}
