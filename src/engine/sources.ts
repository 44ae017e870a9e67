/**
 * The build's inputs: copying the source tree into the workspace (modes
 * normalized to 0644/0755 as git does), hashing it,
 * and the defaults derived from it (epoch, seed, command).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { SpecError } from './errors.js';
import { normaliseTree, type Owner } from './modes.js';

export interface SourceEntry {
  rel: string;
  kind: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeS: number;
  size: number;
}

/** Walks a tree in a fixed (byte-wise sorted) order; never follows symlinks. */
export async function walkTree(root: string): Promise<SourceEntry[]> {
  const out: SourceEntry[] = [];
  async function walk(rel: string): Promise<void> {
    const names = (await fs.readdir(path.join(root, rel))).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(path.join(root, r));
      const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : null;
      if (!kind) throw new SpecError('SOURCE_SPECIAL_FILE', `source tree holds a special file (device, FIFO or socket): ${r}`);
      out.push({ rel: r, kind, mode: st.mode & 0o7777, mtimeS: Math.ceil(st.mtimeMs / 1000), size: st.size });
      if (kind === 'dir') await walk(r);
    }
  }
  await walk('');
  return out;
}

/** sha256 over paths, kinds, executable bits, contents and link targets (not times, not owners). */
export async function hashTree(root: string, entries: SourceEntry[]): Promise<string> {
  const h = createHash('sha256');
  h.update('detbuild-source-tree/1\0');
  for (const e of entries) {
    h.update(`${e.kind}\0${e.rel}\0${e.mode & 0o111 ? 'x' : '-'}\0`);
    if (e.kind === 'file') {
      const fh = await fs.open(path.join(root, e.rel), 'r');
      try {
        for await (const chunk of fh.createReadStream()) h.update(chunk as Buffer);
      } finally {
        await fh.close().catch(() => undefined);
      }
      h.update(`\0${e.size}\0`);
    } else if (e.kind === 'symlink') {
      h.update(`${await fs.readlink(path.join(root, e.rel))}\0`);
    }
  }
  return h.digest('hex');
}

/** The optional per-project defaults file at the top of the sources. */
export interface ProjectFile {
  command?: string;
  epoch?: number;
  seed?: string;
}

export async function readProjectFile(root: string): Promise<ProjectFile> {
  let text: string;
  try {
    text = await fs.readFile(path.join(root, 'detbuild.json'), 'utf8');
  } catch {
    return {};
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new SpecError('PROJECT_FILE_INVALID', 'detbuild.json is not valid JSON', { cause: err });
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new SpecError('PROJECT_FILE_INVALID', 'detbuild.json must hold a JSON object');
  }
  const o = data as Record<string, unknown>;
  const pf: ProjectFile = {};
  if (o.command !== undefined) {
    if (typeof o.command !== 'string' || !o.command.trim()) throw new SpecError('PROJECT_FILE_INVALID', 'detbuild.json: "command" must be a non-empty string');
    pf.command = o.command;
  }
  if (o.epoch !== undefined) {
    if (!Number.isSafeInteger(o.epoch) || (o.epoch as number) < 0) throw new SpecError('PROJECT_FILE_INVALID', 'detbuild.json: "epoch" must be a non-negative integer');
    pf.epoch = o.epoch as number;
  }
  if (o.seed !== undefined) {
    if (typeof o.seed !== 'string' || !/^[0-9a-f]{16,128}$/.test(o.seed)) throw new SpecError('PROJECT_FILE_INVALID', 'detbuild.json: "seed" must be 16-128 lowercase hex digits');
    pf.seed = o.seed;
  }
  return pf;
}

/** The date of the newest debian/changelog entry, as dpkg derives SOURCE_DATE_EPOCH. */
export async function changelogEpoch(root: string): Promise<number | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(root, 'debian', 'changelog'), 'utf8');
  } catch {
    return null;
  }
  const m = /^ -- .*?>\s+(.+)$/m.exec(text);
  if (!m?.[1]) return null;
  const t = Date.parse(m[1]);
  return Number.isNaN(t) ? null : Math.floor(t / 1000);
}

/** Zip cannot store times before 1980; an epoch below that breaks zip and jar. */
export const MIN_EPOCH = 315532800;

/**
 * Default epoch: detbuild.json's "epoch", else the date of the newest
 * debian/changelog entry, else the newest modification time in the sources
 * (what a source tarball carries), never before 1980-01-01.
 */
export async function defaultEpoch(root: string, entries: SourceEntry[], pf: ProjectFile): Promise<number> {
  if (pf.epoch !== undefined) return pf.epoch;
  const fromChangelog = await changelogEpoch(root);
  if (fromChangelog !== null) return Math.max(fromChangelog, MIN_EPOCH);
  let newest = MIN_EPOCH;
  for (const e of entries) if (e.kind !== 'dir' && e.mtimeS > newest) newest = e.mtimeS;
  return newest;
}

/** Default seed: the first 32 hex digits of the source hash. */
export function defaultSeed(sourceHash: string, pf: ProjectFile): string {
  return pf.seed ?? sourceHash.slice(0, 32);
}

/** Copies the sources into the workspace, given to `owner` (the build's host user) when named. */
export async function copyTree(from: string, to: string, owner?: Owner): Promise<void> {
  try {
    await execa('cp', ['-a', '--no-preserve=ownership', '--', `${from}/.`, to]);
    // modes as git keeps them: only the executable bit is the caller's, so a
    // checkout made under umask 077 builds the same as one made under 022
    await normaliseTree(to, owner);
  } catch (err) {
    throw new SpecError('SOURCE_COPY_FAILED', `cannot copy the sources from ${from}`, { cause: err });
  }
}
