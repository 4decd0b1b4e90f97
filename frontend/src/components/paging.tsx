// Server-side cursor pagination as the views use it: the pages seen so far (to go back), the
// current page's answer, and the Newer / Older buttons; plus a table head from column names.
import { useEffect, useState } from "preact/hooks";

export interface Page {
  next_cursor?: string | null;
}

/** Loads the page that `load(cursor)` returns; starts over on page 1 whenever `key` changes. */
export function useCursorPages<P extends Page>(load: (cursor: string | null) => Promise<P>, key: string) {
  // cursors[i] opens page i + 1 (page 1 has none).
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<P | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => setCursors([null]), [key]);
  const cursor = cursors[cursors.length - 1];
  useEffect(() => {
    let live = true;
    setPage(null);
    load(cursor)
      .then((p) => live && (setPage(p), setError(null)))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [key, cursor]);
  const newer = cursors.length > 1 ? () => setCursors(cursors.slice(0, -1)) : null;
  const next = page?.next_cursor;
  const older = next ? () => setCursors([...cursors, next]) : null;
  return { page, error, number: cursors.length, newer, older };
}

export function Pager({ number, newer, older }: { number: number; newer: (() => void) | null; older: (() => void) | null }) {
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={!newer} onClick={() => newer?.()}>
        Newer
      </button>
      <span class="muted">Page {number}</span>
      <button type="button" disabled={!older} onClick={() => older?.()}>
        Older
      </button>
    </nav>
  );
}

export function Head({ columns }: { columns: string[] }) {
  return (
    <thead>
      <tr>
        {columns.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}
