/**
 * One live view of a batch: a line per build (name, stage, elapsed, result). On a terminal
 * the block is redrawn in place (every second and on each change); elsewhere each change
 * is one time-stamped line.
 */
import { clock } from '../format.js';

export interface BoardRow {
  name: string;
  stage: string;
  startedAt: number | null;
  endedAt: number | null;
  result: string | null;
}

export function formatElapsed(ms: number): string {
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')} min`;
}

export class ProgressBoard {
  readonly rows: BoardRow[];
  private drawn = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly width: number;

  constructor(
    names: readonly string[],
    private readonly out: NodeJS.WritableStream,
    private readonly mode: 'tty' | 'lines' | 'off',
  ) {
    this.rows = names.map((name) => ({ name, stage: 'waiting', startedAt: null, endedAt: null, result: null }));
    this.width = Math.min(40, Math.max(...names.map((n) => n.length), 5));
    if (mode === 'tty') {
      this.draw();
      this.timer = setInterval(() => this.draw(), 1000);
      this.timer.unref();
    }
  }

  start(i: number): void {
    this.rows[i]!.startedAt = Date.now();
    this.stage(i, 'starting');
  }

  stage(i: number, stage: string): void {
    const row = this.rows[i]!;
    if (row.stage === stage || row.result !== null) return;
    row.stage = stage;
    if (this.mode === 'tty') this.draw();
    else if (this.mode === 'lines') this.out.write(`${clock()} ${row.name}: ${stage}\n`);
  }

  finish(i: number, result: string): void {
    const row = this.rows[i]!;
    row.endedAt = Date.now();
    row.result = result;
    row.stage = 'done';
    if (this.mode === 'tty') this.draw();
    else if (this.mode === 'lines') this.out.write(`${clock()} ${row.name}: ${result}${row.startedAt ? ` (${formatElapsed(row.endedAt - row.startedAt)})` : ''}\n`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.mode === 'tty') this.draw();
  }

  line(row: BoardRow): string {
    const elapsed = row.startedAt === null ? '' : formatElapsed((row.endedAt ?? Date.now()) - row.startedAt);
    return `${row.name.slice(0, this.width).padEnd(this.width)}  ${(row.result === null ? row.stage : 'done').slice(0, 14).padEnd(14)} ${elapsed.padStart(9)}  ${row.result ?? ''}`;
  }

  private draw(): void {
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const row of this.rows) text += `\r\x1b[K${this.line(row)}\n`;
    this.drawn = this.rows.length;
    this.out.write(text);
  }
}
