/**
 * The rebuilt artifacts against the statement's subjects (and against the published files,
 * when they are at hand): every path, every sha256. diffoscope explains what differs.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { ArtifactEntry } from '../engine/types.js';
import { diffoscopeReport, type DiffoscopeOptions } from '../record/diffoscope.js';
import type { Subject } from './statement.js';

export interface ArtifactComparison {
  path: string;
  /** what the statement claims */
  recorded: string | null;
  /** what this rebuild made */
  rebuilt: string | null;
  /** what the published file holds, when published files are at hand (null: not there) */
  published?: string | null;
}

async function fileSha256(file: string): Promise<string | null> {
  const st = await fs.lstat(file).catch(() => null);
  if (!st || !st.isFile()) return null;
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

/** The entries that differ (empty: GOOD). */
export async function compareArtifacts(subjects: readonly Subject[], rebuilt: readonly ArtifactEntry[], publishedDir: string | null): Promise<ArtifactComparison[]> {
  const rows = new Map<string, ArtifactComparison>();
  for (const s of subjects) rows.set(s.path, { path: s.path, recorded: s.sha256, rebuilt: null });
  for (const a of rebuilt) {
    const row = rows.get(a.path);
    if (row) row.rebuilt = a.sha256;
    else rows.set(a.path, { path: a.path, recorded: null, rebuilt: a.sha256 });
  }
  const out: ArtifactComparison[] = [];
  for (const row of [...rows.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    if (publishedDir && row.recorded !== null) {
      const st = await fs.lstat(path.join(publishedDir, row.path)).catch(() => null);
      // a published symlink is checked through the manifest only (its sha256 is not a file's)
      if (!st?.isSymbolicLink()) row.published = await fileSha256(path.join(publishedDir, row.path));
    }
    const publishedDiffers = row.published !== undefined && row.published !== row.recorded;
    if (row.recorded !== row.rebuilt || publishedDiffers) out.push(row);
  }
  return out;
}

/** One line per difference. */
export function describeDifference(d: ArtifactComparison): string {
  const short = (h: string | null | undefined) => (h ? `${h.slice(0, 12)}…` : 'absent');
  if (d.recorded === null) return `${d.path}: rebuilt (${short(d.rebuilt)}), not in the statement`;
  if (d.rebuilt === null) return `${d.path}: in the statement (${short(d.recorded)}), not rebuilt`;
  if (d.recorded !== d.rebuilt) return `${d.path}: statement ${short(d.recorded)}, rebuilt ${short(d.rebuilt)}${d.published !== undefined && d.published !== d.recorded ? `, published file ${short(d.published)}` : ''}`;
  return `${d.path}: statement and rebuild ${short(d.recorded)}, published file ${short(d.published)}`;
}

/**
 * diffoscope on each differing artifact that exists on both sides (published file and
 * rebuilt file); null when nothing could be compared or diffoscope is not installed.
 */
export async function explainDifferences(differences: readonly ArtifactComparison[], publishedDir: string | null, rebuiltDir: string, opts: DiffoscopeOptions): Promise<string | null> {
  if (!publishedDir) return null;
  const parts: string[] = [];
  for (const d of differences) {
    const a = path.join(publishedDir, d.path);
    const b = path.join(rebuiltDir, d.path);
    if (!(await fs.stat(a).catch(() => null)) || !(await fs.stat(b).catch(() => null))) continue;
    const report = await diffoscopeReport(a, b, opts);
    if (report === null) return null;
    // diffoscope gives up on some damaged files: say at least where the bytes part
    const failed = /^\[diffoscope exited with status \d+/m.test(report) && !/^--- /m.test(report);
    parts.push(failed ? `${report.trim()}\n${await firstDifference(a, b)}` : report.trimEnd());
  }
  return parts.length > 0 ? `${parts.join('\n\n')}\n` : null;
}

/** Where two files first differ, as cmp(1) would say, with the bytes around it. */
export async function firstDifference(a: string, b: string): Promise<string> {
  const [x, y] = await Promise.all([fs.readFile(a), fs.readFile(b)]);
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  if (i === x.length && i === y.length) return `${a} and ${b} are identical`;
  const hex = (buf: Buffer) => buf.subarray(Math.max(0, i - 8), i + 8).toString('hex').replace(/(..)/g, '$1 ').trim();
  return `--- ${a}\n+++ ${b}\nfirst difference at byte ${i} (sizes ${x.length} and ${y.length})\n- ${hex(x)}\n+ ${hex(y)}`;
}
