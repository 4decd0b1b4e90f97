// Sign in with a Clodo API token: checked against `GET /api/v1/me` before it is kept (in
// sessionStorage only), or with Cloudflare Access when the API sits behind it (no token kept).
import { useState } from "preact/hooks";
import { get, type Api, type Me } from "../api/client";
import { ErrorNote } from "../components/ui";

export function SignIn({
  base,
  onSignedIn,
  onAccess,
}: {
  base: string;
  onSignedIn: (token: string, me: Me) => void;
  onAccess: () => void;
}) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <section class="card narrow" aria-labelledby="signin-title">
      <h2 id="signin-title">Sign in</h2>
      <p class="muted">
        Paste a Clodo API token (<code>clodo login</code> stores one; an admin creates more with{" "}
        <code>clodo token create</code>). It stays in this tab only.
      </p>
      <form
        onSubmit={async (event) => {
          event.preventDefault();
          const token = new FormData(event.currentTarget as HTMLFormElement).get("token")?.toString().trim() ?? "";
          setBusy(true);
          setError(null);
          try {
            const api: Api = { base, token };
            onSignedIn(token, await get<Me>(api, "/api/v1/me"));
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label class="field">
          API token
          <input name="token" type="password" autocomplete="off" required spellcheck={false} />
        </label>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
      </form>
      <ErrorNote error={error} />
      <p class="muted">
        Behind Cloudflare Access?{" "}
        <button type="button" class="link" onClick={onAccess}>
          Use Cloudflare Access
        </button>
      </p>
    </section>
  );
}
