// Small shared pieces: a status badge, an error note that says what to do next, an empty
// state, and a confirmation dialog (the native <dialog>, so focus and Escape work).
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { ApiError } from "../api/client";
import { label, tone } from "../format";

export function Badge({ status }: { status: string }) {
  return <span class={`badge tone-${tone(status)}`}>{label(status)}</span>;
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error instanceof ApiError ? error : new ApiError(0, "error", String(error), null);
  const next =
    e.hint ??
    (e.status === 401
      ? "Sign in again with a valid token."
      : e.status === 403
        ? "Your role does not allow this; ask an admin."
        : e.status === 0
          ? "Check the API address in the header."
          : null);
  return (
    <div class="note bad" role="alert">
      <strong>{e.message}</strong>
      {next && <p>{next}</p>}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      {children}
    </div>
  );
}

export interface ConfirmRequest {
  title: string;
  body: string;
  action: string;
  danger?: boolean;
  /** With a comment field (approvals). */
  comment?: boolean;
  run: (comment: string) => Promise<void>;
}

/** Asks before a consequential action; the action runs only on the explicit button. */
export function Confirm({ request, onClose }: { request: ConfirmRequest | null; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const comment = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (request && !dialog.open) dialog.showModal();
    if (!request && dialog.open) dialog.close();
  }, [request]);
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onClose={onClose}>
      {request && (
        <form
          method="dialog"
          onSubmit={async (event) => {
            event.preventDefault();
            const button = (event.currentTarget as HTMLFormElement).querySelector<HTMLButtonElement>("button[type=submit]");
            if (button) button.disabled = true;
            try {
              await request.run(comment.current?.value ?? "");
            } finally {
              onClose();
            }
          }}
        >
          <h2 id="confirm-title">{request.title}</h2>
          <p>{request.body}</p>
          {request.comment && (
            <label class="field">
              Comment
              <textarea ref={comment} name="comment" rows={3} maxLength={2000} />
            </label>
          )}
          <div class="actions">
            <button type="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" class={request.danger ? "danger" : "primary"}>
              {request.action}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}
