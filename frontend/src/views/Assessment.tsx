// A stored assessment report (`#/assessments/ID`, where GitHub statuses and PR comments link):
// ready or not, then the findings grouped by service and severity, each fix copyable.
import { useEffect, useState } from "preact/hooks";
import { get, path, type Api, type Schemas } from "../api/client";
import { Empty, ErrorNote } from "../components/ui";
import { when } from "../format";

type Finding = Schemas["Report"]["findings"][number];
const SEVERITIES: Finding["severity"][] = ["error", "warning", "info"];
const TONE = { error: "bad", warning: "wait", info: "idle" } as const;

function CopyFix({ fix }: { fix: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="fix">
      <code>{fix}</code>
      <button
        type="button"
        aria-label="Copy the fix"
        onClick={() =>
          navigator.clipboard.writeText(fix).then(
            () => setCopied(true),
            () => setCopied(false),
          )
        }
      >
        {copied ? "Copied" : "Copy"}
      </button>
    </div>
  );
}

export function Assessment({ api, id }: { api: Api; id: string }) {
  const [assessment, setAssessment] = useState<Schemas["Assessment"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    get<Schemas["Assessment"]>(api, path`/api/v1/assessments/${id}`).then(setAssessment, setError);
  }, [api.base, api.token, id]);
  if (error) return <ErrorNote error={error} />;
  if (!assessment) return <p class="muted" role="status">Loading the report…</p>;
  const report = assessment.report;
  const byService = new Map<string, Finding[]>();
  for (const f of report.findings) {
    const key = f.service ?? "(the config)";
    byService.set(key, [...(byService.get(key) ?? []), f]);
  }
  const unverified = report.findings.filter((f) => f.unverified).length;
  return (
    <article aria-labelledby="assessment-title">
      <h2 id="assessment-title">
        Assessment of <span class="mono">{assessment.config_file}</span>
        <span class={`badge tone-${report.ready ? "good" : "bad"}`}>{report.ready ? "ready" : "not ready"}</span>
      </h2>
      <p class="muted">
        {assessment.env ? `Environment ${assessment.env}` : "Top-level environment"} ·{" "}
        {assessment.account_id ? `checked against account ${assessment.account_id}` : "local checks only (no account)"} · by{" "}
        {assessment.created_by} · {when(assessment.created_at)}
        {unverified > 0 && ` · ${unverified} check(s) could not be made`}
      </p>
      {report.findings.length === 0 && <Empty title="No findings: nothing will fail that Clodo can see." />}
      {[...byService.entries()].map(([service, findings]) => (
        <section key={service} aria-label={`Findings for ${service}`}>
          <h3>{service}</h3>
          {SEVERITIES.map((severity) => {
            const some = findings.filter((f) => f.severity === severity);
            if (some.length === 0) return null;
            return (
              <div key={severity}>
                <h4 class={`tone-${TONE[severity]}`}>
                  {some.length} {severity}
                  {some.length === 1 ? "" : "s"}
                </h4>
                <ul class="findings">
                  {some.map((f, i) => (
                    <li key={`${f.kind}-${i}`} data-kind={f.kind}>
                      <p>
                        <span class="mono muted">{f.kind}</span> {f.message}
                        {f.unverified && <span class="badge tone-wait">unverified</span>}
                      </p>
                      {f.location && (
                        <p class="muted small mono">
                          {f.location.file}
                          {f.location.line ? `:${f.location.line}` : ""} {f.location.key_path ?? ""}
                        </p>
                      )}
                      <CopyFix fix={f.fix} />
                    </li>
                  ))}
                </ul>
              </div>
            );
          })}
        </section>
      ))}
    </article>
  );
}
