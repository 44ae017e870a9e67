/** The table printed when a batch ends: one row per build. */
import { formatElapsed } from './progress.js';

export interface BatchOutcome {
  name: string;
  input: string;
  ok: boolean;
  /** success, failed, cancelled, … ; 'not started' when cancelled before its turn */
  status: string;
  exitCode: number;
  message: string;
  durationMs: number | null;
  artifacts: number | null;
  outDir: string | null;
  logPath: string | null;
}

export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const fmt = (cells: readonly string[]) => cells.map((x, c) => (c === cells.length - 1 ? x : x.padEnd(widths[c]!))).join('  ').trimEnd();
  return [fmt(headers), ...rows.map(fmt)].join('\n');
}

export function summaryTable(outcomes: readonly BatchOutcome[]): string {
  return table(
    ['build', 'result', 'time', 'artifacts', 'exit', 'where'],
    outcomes.map((o) => [
      o.name,
      o.status,
      o.durationMs === null ? '-' : formatElapsed(o.durationMs),
      o.artifacts === null ? '-' : String(o.artifacts),
      String(o.exitCode),
      o.ok ? (o.outDir ?? '') : o.logPath ? `log: ${o.logPath}` : o.message,
    ]),
  );
}
