// kubectl-style tables: upper-case headers, columns three spaces apart, no borders.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
const visibleLength = (text: string): number => text.replace(ANSI, "").length;

export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ""))));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - visibleLength(cell) + 3)))
      .join("")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

/** kubectl's AGE column: 45s, 12m, 5h, 3d. */
export function formatAge(since: string | Date | undefined, now: Date): string {
  if (since === undefined) return "<unknown>";
  const start = since instanceof Date ? since : new Date(since);
  const seconds = Math.floor((now.getTime() - start.getTime()) / 1000);
  if (!Number.isFinite(seconds)) return "<unknown>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 2 * 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}
