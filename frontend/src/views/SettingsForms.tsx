// The settings page's two larger forms, kept out of Settings.tsx: a new notification channel
// (every kind the API takes, with the fields that kind needs; its secrets go to the server and
// are never shown again, a generated webhook signing secret once), and an environment's whole
// policy (required approvals, branches, deploy windows, freezes) written as short lines.
import { useState } from "preact/hooks";
import { post, put, path, type Api, type Schemas } from "../api/client";
import { ErrorNote } from "../components/ui";

type Kind = Schemas["ChannelKind"];
const KINDS: Kind[] = ["slack", "discord", "webhook", "email", "sentry", "datadog", "newrelic"];
const URL_KINDS: Kind[] = ["slack", "discord", "webhook"];
const API_KINDS: Kind[] = ["email", "sentry", "datadog", "newrelic"];

/** Trimmed text of a form field, or undefined when empty (the API's "absent"). */
const text = (data: FormData, name: string) => data.get(name)?.toString().trim() || undefined;
const list = (value: string | undefined) =>
  value
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);

export function NewChannelForm({ api, projects, onCreated }: { api: Api; projects: string[]; onCreated: () => void }) {
  const [kind, setKind] = useState<Kind>("slack");
  const [error, setError] = useState<unknown>(null);
  const [secret, setSecret] = useState<string | null>(null);
  return (
    <>
      <form
        class="filters"
        aria-label="New channel"
        onSubmit={async (event) => {
          event.preventDefault();
          const form = event.currentTarget;
          const data = new FormData(form);
          setError(null);
          setSecret(null);
          try {
            const created = await post<Schemas["ChannelCreated"]>(api, "/api/v1/channels", {
              project: text(data, "project"),
              environment: text(data, "environment"),
              name: text(data, "name"),
              kind,
              url: text(data, "url"),
              signing_secret: text(data, "signing_secret"),
              api_key: text(data, "api_key"),
              base_url: text(data, "base_url"),
              from: text(data, "from"),
              to: list(text(data, "to")),
              org: text(data, "org"),
              projects: list(text(data, "projects")),
              entity_guid: text(data, "entity_guid"),
            });
            setSecret(created.secret);
            form.reset();
            setKind("slack");
            onCreated();
          } catch (e) {
            setError(e);
          }
        }}
      >
        <label class="field">
          Project
          <select name="project" required>
            {projects.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
        <label class="field">
          Environment (empty: all)
          <input name="environment" maxLength={64} />
        </label>
        <label class="field">
          Name
          <input name="name" required maxLength={64} />
        </label>
        <label class="field">
          Kind
          <select name="kind" value={kind} onChange={(e) => setKind((e.currentTarget as HTMLSelectElement).value as Kind)}>
            {KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        {URL_KINDS.includes(kind) && (
          <label class="field">
            {kind === "webhook" ? "Endpoint URL" : "Webhook URL"}
            <input name="url" type="url" required maxLength={2048} autocomplete="off" />
          </label>
        )}
        {kind === "webhook" && (
          <label class="field">
            Signing secret (empty: generate)
            <input name="signing_secret" type="password" maxLength={200} autocomplete="off" />
          </label>
        )}
        {API_KINDS.includes(kind) && (
          <>
            <label class="field">
              API key
              <input name="api_key" type="password" required maxLength={1024} autocomplete="off" />
            </label>
            <label class="field">
              API base URL (empty: the service's)
              <input name="base_url" type="url" maxLength={2048} />
            </label>
          </>
        )}
        {kind === "email" && (
          <>
            <label class="field">
              From
              <input name="from" type="email" required maxLength={320} />
            </label>
            <label class="field">
              To (comma separated)
              <input name="to" required />
            </label>
          </>
        )}
        {kind === "sentry" && (
          <>
            <label class="field">
              Organization
              <input name="org" required maxLength={100} />
            </label>
            <label class="field">
              Sentry projects (comma separated)
              <input name="projects" required />
            </label>
          </>
        )}
        {kind === "newrelic" && (
          <label class="field">
            Entity GUID
            <input name="entity_guid" required maxLength={200} />
          </label>
        )}
        <button type="submit" class="primary">
          Add channel
        </button>
      </form>
      {secret && (
        <label class="field">
          Signing secret (shown once; give it to the receiver)
          <input readOnly value={secret} class="mono" aria-label="New channel signing secret" />
        </label>
      )}
      <ErrorNote error={error} />
    </>
  );
}

type Policy = Schemas["Policy"];
type Day = Schemas["Window"]["days"][number];

/** `mon,tue 09:00-17:00 Europe/Paris` per window. */
const windowLine = (w: Schemas["Window"]) => `${w.days.join(",")} ${w.start}-${w.end} ${w.timezone}`;
/** `START END reason` per freeze (RFC 3339 times). */
const freezeLine = (f: Schemas["Freeze"]) => `${f.starts_at} ${f.ends_at} ${f.reason}`.trim();
const lines = (value: string) =>
  value
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);

function parseWindow(line: string): Schemas["Window"] {
  const m = /^(\S+)\s+(\d{1,2}:\d{2})-(\d{1,2}:\d{2})\s+(\S+)$/.exec(line);
  if (!m) throw new Error(`Deploy window “${line}”: write it as DAYS START-END ZONE, e.g. mon,tue,wed 09:00-17:00 Europe/Paris`);
  return { days: m[1].split(",") as Day[], start: m[2], end: m[3], timezone: m[4] as Schemas["Window"]["timezone"] };
}

function parseFreeze(line: string): Schemas["Freeze"] {
  const [starts_at, ends_at, ...reason] = line.split(/\s+/);
  if (!starts_at || !ends_at) throw new Error(`Freeze “${line}”: write it as START END REASON, e.g. 2026-12-24T00:00:00Z 2026-12-27T00:00:00Z holidays`);
  return { starts_at, ends_at, reason: reason.join(" ") };
}

/** The whole policy of one environment, saved with one PUT (the server checks every field). */
export function PolicyForm({
  api,
  project,
  environment,
  policy,
  onSaved,
}: {
  api: Api;
  project: string;
  environment: string;
  policy: Policy;
  onSaved: () => void;
}) {
  const [error, setError] = useState<unknown>(null);
  const id = `policy-${project}-${environment}`;
  return (
    <form
      class="policy-form"
      aria-label={`Policy of ${project}/${environment}`}
      onSubmit={async (event) => {
        event.preventDefault();
        const data = new FormData(event.currentTarget);
        setError(null);
        try {
          const next: Policy = {
            required_approvals: Number(data.get("required_approvals")),
            branches: list(text(data, "branches")) ?? [],
            windows: lines(data.get("windows")?.toString() ?? "").map(parseWindow),
            freezes: lines(data.get("freezes")?.toString() ?? "").map(parseFreeze),
          };
          await put(api, path`/api/v1/projects/${project}/environments/${environment}/policy`, next);
          onSaved();
        } catch (e) {
          setError(e);
        }
      }}
    >
      <label class="field">
        Required approvals
        <input name="required_approvals" type="number" min={0} max={10} required defaultValue={String(policy.required_approvals)} />
      </label>
      <label class="field">
        Branches (comma separated globs; empty: any)
        <input name="branches" defaultValue={policy.branches.join(", ")} />
      </label>
      <label class="field" for={`${id}-windows`}>
        Deploy windows, one a line (DAYS START-END ZONE; none: any time)
      </label>
      <textarea id={`${id}-windows`} name="windows" rows={2} defaultValue={policy.windows.map(windowLine).join("\n")} />
      <label class="field" for={`${id}-freezes`}>
        Freezes, one a line (START END REASON, RFC 3339)
      </label>
      <textarea id={`${id}-freezes`} name="freezes" rows={2} defaultValue={policy.freezes.map(freezeLine).join("\n")} />
      <button type="submit" class="primary">
        Save policy
      </button>
      <ErrorNote error={error} />
    </form>
  );
}
