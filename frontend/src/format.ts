// How times, durations and statuses read on screen.

export function when(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (ms === null || ms === undefined) return "—";
  const s = Math.round((now - ms) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function duration(from: number | null | undefined, to: number | null | undefined): string {
  if (!from || !to) return "—";
  const s = Math.round((to - from) / 1000);
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

/** The colour family of a deployment or rollout state (CSS class `tone-…`). */
export function tone(status: string): "good" | "bad" | "busy" | "wait" | "idle" {
  if (["succeeded"].includes(status)) return "good";
  if (["failed", "rolled_back", "rolling_back"].includes(status)) return "bad";
  if (["deploying", "verifying", "assessing", "running"].includes(status)) return "busy";
  if (["awaiting_approval", "queued", "paused", "requested"].includes(status)) return "wait";
  return "idle";
}

export const label = (status: string) => status.replace(/_/g, " ");

export const shortSha = (sha: string | null | undefined) => (sha ? sha.slice(0, 8) : "—");
