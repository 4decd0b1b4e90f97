// Team settings (#/settings): tokens, members and roles, environment policies, Cloudflare
// credentials (names and accounts only: a stored API token never leaves the server), notification
// channels and their delivery log (with replay), and each project's GitHub integration. What the
// caller's role cannot do is not offered (admins manage; everyone sees members, policies and the
// GitHub set-up); the server enforces every role again.
import { useEffect, useState } from "preact/hooks";
import { del, get, path, post, query, type Api, type Me, type Schemas } from "../api/client";
import { Head } from "../components/paging";
import { Badge, Confirm, Empty, ErrorNote, type ConfirmRequest } from "../components/ui";
import { ago, when } from "../format";
import { NewChannelForm, PolicyForm } from "./SettingsForms";

type Role = Schemas["Role"];
const ROLES: Role[] = ["viewer", "deployer", "approver", "admin"];

/** Data from `load`, reloaded when `reload()` is called; its error shown where it belongs. */
function useData<T>(load: () => Promise<T>, key: string) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    load()
      .then((d) => live && (setData(d), setError(null)))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [key, round]);
  return { data, error, reload: () => setRound((r) => r + 1) };
}

/** Data only admins may read (the server answers 403 to others): not asked for otherwise. */
function useAdminData<T>(admin: boolean, api: Api, load: () => Promise<T>) {
  return useData(() => (admin ? load() : Promise.resolve(null)), `${api.token}`);
}

/** What a section backed by an admin-only API shows other roles. */
function AdminsOnly({ id, title, what }: { id: string; title: string; what: string }) {
  return (
    <Section id={id} title={title}>
      <p class="muted">Only team admins see and manage {what}; ask an admin if something here needs to change.</p>
    </Section>
  );
}

interface Shared {
  api: Api;
  me: Me;
  ask: (r: ConfirmRequest) => void;
}

export function Settings({ api, me }: { api: Api; me: Me }) {
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const shared: Shared = { api, me, ask: setConfirm };
  const admin = me.role === "admin";
  return (
    <section aria-labelledby="settings-title">
      <h2 id="settings-title">Settings</h2>
      <nav aria-label="Settings sections" class="subnav">
        <a href="#settings-tokens">Tokens</a> <a href="#settings-members">Members</a> <a href="#settings-policies">Policies</a>{" "}
        <a href="#settings-credentials">Credentials</a> <a href="#settings-channels">Channels</a>{" "}
        <a href="#settings-deliveries">Deliveries</a> <a href="#settings-github">GitHub</a>
      </nav>
      <p class="muted">
        You are {me.actor} with the <strong>{me.role}</strong> role.
      </p>
      <Tokens {...shared} admin={admin} />
      <Members {...shared} admin={admin} />
      <Policies {...shared} admin={admin} />
      <Credentials {...shared} admin={admin} />
      <Channels {...shared} admin={admin} />
      <Deliveries {...shared} admin={admin} />
      <Github {...shared} />
      <Confirm request={confirm} onClose={() => setConfirm(null)} />
    </section>
  );
}

type Props = Shared & { admin: boolean };

function Section({ id, title, children }: { id: string; title: string; children: preact.ComponentChildren }) {
  return (
    <section aria-labelledby={`${id}-title`} id={id} class="card">
      <h3 id={`${id}-title`}>{title}</h3>
      {children}
    </section>
  );
}

/** Runs a change, then `after`; its failure is shown by `setError`. */
const attempt = (call: () => Promise<unknown>, after: () => void, setError: (e: unknown) => void) => async () => {
  setError(null);
  try {
    await call();
    after();
  } catch (e) {
    setError(e);
  }
};

function Tokens({ api, ask, admin }: Props) {
  const tokens = useAdminData(admin, api, () => get<Schemas["TokenList"]>(api, "/api/v1/tokens"));
  const [created, setCreated] = useState<Schemas["TokenCreated"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  if (!admin) return <AdminsOnly id="settings-tokens" title="API tokens" what="API tokens" />;
  const items = tokens.data?.items ?? [];
  return (
    <Section id="settings-tokens" title="API tokens">
      <ErrorNote error={tokens.error ?? error} />
      {items.length === 0 ? (
        <Empty title="No tokens listed">{tokens.data ? <p>Create one below.</p> : <p class="muted">Loading…</p>}</Empty>
      ) : (
        <table class="grid" id="tokens">
          <Head columns={["Name", "Prefix", "Role", "Member", "Last used", "State", ""]} />
          <tbody>
            {items.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td>
                <td class="mono">{t.prefix}…</td>
                <td>{t.role}</td>
                <td>{t.member_email ?? <span class="muted">team token</span>}</td>
                <td>{ago(t.last_used_at)}</td>
                <td>{t.revoked_at ? <Badge status="revoked" /> : t.expires_at && t.expires_at < Date.now() ? <Badge status="expired" /> : "active"}</td>
                <td>
                  {!t.revoked_at && (
                    <button
                      type="button"
                      class="danger"
                      aria-label={`Revoke token ${t.name}`}
                      onClick={() =>
                        ask({
                          title: "Revoke token",
                          body: `Revoke “${t.name}” (${t.prefix}…)? Anything using it stops working at once.`,
                          action: "Revoke",
                          danger: true,
                          run: attempt(() => del(api, path`/api/v1/tokens/${t.id}`), tokens.reload, setError),
                        })
                      }
                    >
                      Revoke…
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="filters"
        aria-label="New token"
        onSubmit={async (event) => {
          event.preventDefault();
          const form = event.currentTarget;
          const data = new FormData(form);
          const email = data.get("member_email")?.toString().trim();
          await attempt(
            async () =>
              setCreated(
                await post<Schemas["TokenCreated"]>(api, "/api/v1/tokens", {
                  name: data.get("name")?.toString().trim(),
                  role: data.get("role"),
                  member_email: email || null,
                  expires_in_days: Number(data.get("days")) || null,
                }),
              ),
            () => (form.reset(), tokens.reload()),
            setError,
          )();
        }}
      >
        <label class="field">
          Name
          <input name="name" required maxLength={100} />
        </label>
        <label class="field">
          Role
          <select name="role">
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <label class="field">
          Member email (optional)
          <input name="member_email" type="email" maxLength={254} />
        </label>
        <label class="field">
          Expires in days
          <input name="days" type="number" min={1} max={3650} />
        </label>
        <button type="submit" class="primary">
          Create token
        </button>
      </form>
      {created && (
        <div class="note" role="status">
          <p>
            Token “{created.name}” created. Copy it now: it is shown once and stored only as a hash.
          </p>
          <input aria-label="New token secret" class="mono" readOnly value={created.secret} onFocus={(e) => e.currentTarget.select()} />
        </div>
      )}
    </Section>
  );
}

function Members({ api, ask, admin }: Props) {
  const members = useData(() => get<Schemas["MemberList"]>(api, "/api/v1/members"), `${api.token}`);
  const [error, setError] = useState<unknown>(null);
  const items = members.data?.items ?? [];
  return (
    <Section id="settings-members" title="Members and roles">
      <ErrorNote error={members.error ?? error} />
      {members.data && items.length === 0 ? (
        <Empty title="No members yet">{admin && <p>Add people below; each gets a role and their own tokens.</p>}</Empty>
      ) : (
        <table class="grid" id="members">
          <Head columns={admin ? ["Email", "Name", "Role", "Since", ""] : ["Email", "Name", "Role", "Since"]} />
          <tbody>
            {items.map((m) => (
              <tr key={m.id}>
                <td>{m.email}</td>
                <td>{m.name ?? <span class="muted">—</span>}</td>
                <td>{m.role}</td>
                <td>{when(m.created_at)}</td>
                {admin && (
                  <td>
                    <button
                      type="button"
                      class="danger"
                      aria-label={`Remove member ${m.email}`}
                      onClick={() =>
                        ask({
                          title: "Remove member",
                          body: `Remove ${m.email}? Their tokens and the tokens they created are revoked.`,
                          action: "Remove",
                          danger: true,
                          run: attempt(() => del(api, path`/api/v1/members/${m.id}`), members.reload, setError),
                        })
                      }
                    >
                      Remove…
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {admin && (
        <form
          class="filters"
          aria-label="New member"
          onSubmit={async (event) => {
            event.preventDefault();
            const form = event.currentTarget;
            const data = new FormData(form);
            await attempt(
              () =>
                post(api, "/api/v1/members", {
                  email: data.get("email")?.toString().trim(),
                  name: data.get("name")?.toString().trim() || null,
                  role: data.get("role"),
                }),
              () => (form.reset(), members.reload()),
              setError,
            )();
          }}
        >
          <label class="field">
            Email
            <input name="email" type="email" required maxLength={254} />
          </label>
          <label class="field">
            Name
            <input name="name" maxLength={100} />
          </label>
          <label class="field">
            Role
            <select name="role">
              {ROLES.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </select>
          </label>
          <button type="submit" class="primary">
            Add member
          </button>
        </form>
      )}
    </Section>
  );
}

interface EnvPolicy {
  project: string;
  environment: string;
  policy: Schemas["Policy"] | null;
}

async function loadPolicies(api: Api): Promise<EnvPolicy[]> {
  const projects = await get<Schemas["ProjectList"]>(api, "/api/v1/projects");
  const details = await Promise.all(projects.items.map((p) => get<Schemas["ProjectDetail"]>(api, path`/api/v1/projects/${p.slug}`)));
  return Promise.all(
    details.flatMap((p) =>
      p.environments.map(async (e) => ({
        project: p.slug,
        environment: e.name,
        policy: await get<Schemas["Policy"]>(api, path`/api/v1/projects/${p.slug}/environments/${e.name}/policy`).catch(() => null),
      })),
    ),
  );
}

function Policies({ api, admin }: Props) {
  const policies = useData(() => loadPolicies(api), `${api.token}`);
  const [editing, setEditing] = useState<string | null>(null);
  const rows = policies.data ?? [];
  return (
    <Section id="settings-policies" title="Environment policies">
      <ErrorNote error={policies.error} />
      {policies.data && rows.length === 0 ? (
        <Empty title="No environments yet">
          <p>
            Create a project and its environments with <code>clodo init</code>; each gets a policy here.
          </p>
        </Empty>
      ) : (
        <table class="grid" id="policies">
          <Head columns={admin ? ["Environment", "Approvals", "Branches", "Windows", "Freezes", ""] : ["Environment", "Approvals", "Branches", "Windows", "Freezes"]} />
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.project}/${r.environment}`}>
                <td>
                  {r.project} / {r.environment}
                </td>
                <td>
                  {r.policy ? r.policy.required_approvals : <span class="muted">unreadable</span>}
                </td>
                <td>{r.policy?.branches.length ? r.policy.branches.join(", ") : <span class="muted">any</span>}</td>
                <td>{r.policy?.windows.length ? `${r.policy.windows.length} window(s)` : <span class="muted">any time</span>}</td>
                <td>{r.policy?.freezes.length ? `${r.policy.freezes.length} freeze(s)` : <span class="muted">none</span>}</td>
                {admin && (
                  <td>
                    {r.policy && (
                      <button
                        type="button"
                        aria-expanded={editing === `${r.project}/${r.environment}`}
                        aria-label={`Edit policy of ${r.project}/${r.environment}`}
                        onClick={() => setEditing(editing === `${r.project}/${r.environment}` ? null : `${r.project}/${r.environment}`)}
                      >
                        Edit…
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {admin &&
        rows
          .filter((r) => r.policy && editing === `${r.project}/${r.environment}`)
          .map((r) => (
            <PolicyForm
              key={`${r.project}/${r.environment}`}
              api={api}
              project={r.project}
              environment={r.environment}
              policy={r.policy!}
              onSaved={() => (setEditing(null), policies.reload())}
            />
          ))}
      <p class="muted">
        Also <code>PUT …/policy</code> or <code>clodo policy</code> (see docs/cli.md).
      </p>
    </Section>
  );
}

function Credentials({ api, ask, admin }: Props) {
  const creds = useAdminData(admin, api, () => get<Schemas["CredentialList"]>(api, "/api/v1/credentials"));
  const [error, setError] = useState<unknown>(null);
  if (!admin) return <AdminsOnly id="settings-credentials" title="Cloudflare credentials" what="Cloudflare credentials" />;
  const items = creds.data?.items ?? [];
  return (
    <Section id="settings-credentials" title="Cloudflare credentials">
      <p class="muted">Names and accounts only: a stored API token is encrypted and never shown again.</p>
      <ErrorNote error={creds.error ?? error} />
      {creds.data && items.length === 0 ? (
        <Empty title="No credentials">
          <p>Store one below so rollouts and assessments can reach your Cloudflare account.</p>
        </Empty>
      ) : (
        <table class="grid" id="credentials">
          <Head columns={["Name", "Account", "Stored by", "When", ""]} />
          <tbody>
            {items.map((c) => (
              <tr key={c.id}>
                <td>{c.name}</td>
                <td class="mono">{c.account_id}</td>
                <td>{c.created_by}</td>
                <td>{when(c.created_at)}</td>
                <td>
                  <button
                    type="button"
                    class="danger"
                    aria-label={`Delete credential ${c.name}`}
                    onClick={() =>
                      ask({
                        title: "Delete credential",
                        body: `Delete “${c.name}” for account ${c.account_id}? Rollouts in that account stop until another is stored.`,
                        action: "Delete",
                        danger: true,
                        run: attempt(() => del(api, path`/api/v1/credentials/${c.id}`), creds.reload, setError),
                      })
                    }
                  >
                    Delete…
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="filters"
        aria-label="New credential"
        onSubmit={async (event) => {
          event.preventDefault();
          const form = event.currentTarget;
          const data = new FormData(form);
          await attempt(
            () =>
              post(api, "/api/v1/credentials", {
                account_id: data.get("account_id")?.toString().trim(),
                name: data.get("name")?.toString().trim(),
                api_token: data.get("api_token")?.toString(),
              }),
            () => (form.reset(), creds.reload()),
            setError,
          )();
        }}
      >
        <label class="field">
          Account id
          <input name="account_id" required spellcheck={false} />
        </label>
        <label class="field">
          Name
          <input name="name" required maxLength={100} />
        </label>
        <label class="field">
          API token
          <input name="api_token" type="password" required autocomplete="off" maxLength={1024} />
        </label>
        <button type="submit" class="primary">
          Store credential
        </button>
      </form>
    </Section>
  );
}

function Channels({ api, ask, admin }: Props) {
  const channels = useAdminData(admin, api, () => get<Schemas["ChannelList"]>(api, "/api/v1/channels"));
  const projects = useAdminData(admin, api, () => get<Schemas["ProjectList"]>(api, "/api/v1/projects"));
  const [error, setError] = useState<unknown>(null);
  if (!admin) return <AdminsOnly id="settings-channels" title="Notification channels" what="notification channels" />;
  const items = channels.data?.items ?? [];
  return (
    <Section id="settings-channels" title="Notification channels">
      <ErrorNote error={channels.error ?? error} />
      {channels.data && items.length === 0 ? (
        <Empty title="No channels">
          <p>
            Add one below, or with <code>clodo channels add --kind slack --name ops --url-env SLACK_WEBHOOK_URL</code>; its secrets are never shown again.
          </p>
        </Empty>
      ) : (
        <table class="grid" id="channels">
          <Head columns={["Name", "Kind", "Scope", "Sends to", "Events", "State", ""]} />
          <tbody>
            {items.map((c) => (
              <tr key={c.id}>
                <td>{c.name}</td>
                <td>{c.kind}</td>
                <td>
                  {c.project} / {c.environment ?? "every environment"}
                </td>
                <td class="mono">{c.endpoint}</td>
                <td>{c.events.join(", ")}</td>
                <td>{c.enabled ? "enabled" : `disabled: ${c.disabled_reason ?? "by an admin"}`}</td>
                <td>
                  {!c.enabled && (
                    <button
                      type="button"
                      aria-label={`Enable channel ${c.name}`}
                      onClick={attempt(() => post(api, path`/api/v1/channels/${c.id}/enable`), channels.reload, setError)}
                    >
                      Enable
                    </button>
                  )}{" "}
                  <button
                    type="button"
                    class="danger"
                    aria-label={`Delete channel ${c.name}`}
                    onClick={() =>
                      ask({
                        title: "Delete channel",
                        body: `Delete “${c.name}”? Its pending deliveries are cancelled.`,
                        action: "Delete",
                        danger: true,
                        run: attempt(() => del(api, path`/api/v1/channels/${c.id}`), channels.reload, setError),
                      })
                    }
                  >
                    Delete…
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {projects.data && projects.data.items.length > 0 && (
        <NewChannelForm api={api} projects={projects.data.items.map((p) => p.slug)} onCreated={channels.reload} />
      )}
    </Section>
  );
}

function Deliveries({ api, ask, admin }: Props) {
  const deliveries = useAdminData(admin, api, () => get<Schemas["DeliveryPage"]>(api, "/api/v1/deliveries" + query({ limit: 25 })));
  const [error, setError] = useState<unknown>(null);
  if (!admin) return <AdminsOnly id="settings-deliveries" title="Delivery log" what="the delivery log" />;
  const items = deliveries.data?.items ?? [];
  return (
    <Section id="settings-deliveries" title="Delivery log">
      <ErrorNote error={deliveries.error ?? error} />
      {deliveries.data && items.length === 0 ? (
        <Empty title="Nothing delivered yet">
          <p>Notifications and markers appear here once a channel's events happen.</p>
        </Empty>
      ) : (
        <table class="grid" id="deliveries">
          <Head columns={["When", "Event", "Channel", "State", "Attempts", "Last answer", ""]} />
          <tbody>
            {items.map((d) => (
              <tr key={d.id}>
                <td>{ago(d.created_at)}</td>
                <td>{d.event_type ?? d.kind}</td>
                <td class="mono">{d.channel_id ?? "—"}</td>
                <td>
                  <Badge status={d.state} />
                </td>
                <td>{d.attempts}</td>
                <td>{d.last_error ?? (d.last_status ? `HTTP ${d.last_status}` : "—")}</td>
                <td>
                  {d.state !== "pending" && (
                    <button
                      type="button"
                      aria-label={`Replay delivery ${d.id}`}
                      onClick={() =>
                        ask({
                          title: "Replay delivery",
                          body: "Send this delivery again, with the same id (receivers that deduplicate by webhook-id see a repeat).",
                          action: "Replay",
                          run: attempt(() => post(api, path`/api/v1/deliveries/${d.id}/replay`), deliveries.reload, setError),
                        })
                      }
                    >
                      Replay…
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

async function loadGithub(api: Api) {
  const projects = await get<Schemas["ProjectList"]>(api, "/api/v1/projects");
  return Promise.all(
    projects.items.map(async (p) => ({
      project: p.slug,
      github: await get<Schemas["GithubIntegration"]>(api, path`/api/v1/projects/${p.slug}/github`).catch(() => null),
    })),
  );
}

function Github({ api }: Shared) {
  const integrations = useData(() => loadGithub(api), `${api.token}`);
  const rows = integrations.data ?? [];
  return (
    <Section id="settings-github" title="GitHub integration">
      <ErrorNote error={integrations.error} />
      {integrations.data && rows.length === 0 ? (
        <Empty title="No projects yet" />
      ) : (
        <table class="grid" id="github">
          <Head columns={["Project", "Repository", "Branches assessed", "Environment", "Webhook path"]} />
          <tbody>
            {rows.map((r) => (
              <tr key={r.project}>
                <td>{r.project}</td>
                {r.github ? (
                  <>
                    <td>{r.github.repository}</td>
                    <td>{r.github.branches.join(", ")}</td>
                    <td>{r.github.environment ?? <span class="muted">none</span>}</td>
                    <td class="mono">{r.github.webhook_path}</td>
                  </>
                ) : (
                  <td colSpan={4} class="muted">
                    Not connected: an admin runs <code>clodo github connect --project {r.project} --repository OWNER/NAME</code>.
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
