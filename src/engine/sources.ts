/**
 * The build's inputs: walking the source tree (VCS metadata left out), hashing
 * it, copying it into the workspace (modes normalized to 0644/0755 as git does,
 * times set to the epoch), and the project file's defaults (command, seed). The
 * epoch's rule is in source-date.ts.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import { SpecError } from './errors.js';
import { isVcsMetadata } from './vcs.js';

export interface SourceEntry {
  rel: string;
  kind: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
}

/**
 * Walks a tree in a fixed (byte-wise sorted) order; never follows symlinks; leaves
 * out VCS metadata (.git, .hg, .svn, .bzr, _darcs, CVS) at any depth.
 */
export async function walkTree(root: string): Promise<SourceEntry[]> {
  const out: SourceEntry[] = [];
  async function walk(rel: string): Promise<void> {
    const names = (await fs.readdir(path.join(root, rel))).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      if (isVcsMetadata(name)) continue;
      const r = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(path.join(root, r));
      const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : null;
      if (!kind) throw new SpecError('SOURCE_SPECIAL_FILE', `source tree holds a special file (device, FIFO or socket): ${r}`);
      out.push({ rel: r, kind, mode: st.mode & 0o7777, size: st.size });
      if (kind === 'dir') await walk(r);
    }
  }
  await walk('');
  return out;
}

/**
 * sha256 over paths, kinds, executable bits, contents and link targets: not times,
 * not owners, not the other mode bits (umask), not the order directories list in.
 */
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

/** Default seed: the first 32 hex digits of the source hash. */
export function defaultSeed(sourceHash: string, pf: ProjectFile): string {
  return pf.seed ?? sourceHash.slice(0, 32);
}

/** Files up to this size are read once into memory, written to the copy and hashed from there. */
const IN_MEMORY_BYTES = 1024 * 1024;

/**
 * Copies the walked tree (VCS metadata left out) into `to`, which exists, and
 * returns its hashTree() hash, reading each source file once: modes as git
 * keeps them (0644, or 0755 when executable; directories 0755), so a checkout
 * made under umask 077 builds the same as one made under 022, and every time
 * set to `epoch`, so that nothing of when or how the sources were checked out
 * reaches the build. Directories are made first, in the walk's order. The hash
 * is of the bytes written to the copy (what the build gets), in the walk's
 * order, while the copies themselves overlap.
 */
export async function copyTree(from: string, to: string, epoch: number): Promise<string> {
  try {
    const entries = await walkTree(from);
    for (const e of entries) {
      if (e.kind !== 'dir') continue;
      await fs.mkdir(path.join(to, e.rel));
      await fs.chmod(path.join(to, e.rel), 0o755);
    }
    const h = createHash('sha256');
    h.update('detbuild-source-tree/1\0');
    // each entry's copy, started up to WIDTH ahead of the hash, which takes them in order
    const WIDTH = 16;
    const copies: Array<Promise<Buffer | string | null> | null> = entries.map(() => null);
    const copyOne = async (e: SourceEntry): Promise<Buffer | string | null> => {
      const src = path.join(from, e.rel);
      const dst = path.join(to, e.rel);
      let content: Buffer | string | null = null;
      if (e.kind === 'dir') return null;
      if (e.kind === 'symlink') {
        content = await fs.readlink(src);
        await fs.symlink(content, dst);
      } else {
        if (e.size <= IN_MEMORY_BYTES) {
          content = await fs.readFile(src);
          await fs.writeFile(dst, content, { mode: 0o600 });
        } else {
          await fs.copyFile(src, dst, fsConstants.COPYFILE_FICLONE);
        }
        await fs.chmod(dst, e.mode & 0o111 ? 0o755 : 0o644);
      }
      await fs.lutimes(dst, epoch, epoch);
      return content;
    };
    let started = 0;
    const startUpTo = (n: number): void => {
      for (; started < Math.min(n, entries.length); started++) {
        const p = copyOne(entries[started]!);
        p.catch(() => undefined); // awaited below, in order; an early failure must not be unhandled
        copies[started] = p;
      }
    };
    for (let i = 0; i < entries.length; i++) {
      startUpTo(i + WIDTH);
      const e = entries[i]!;
      const content = await copies[i]!;
      copies[i] = null;
      h.update(`${e.kind}\0${e.rel}\0${e.mode & 0o111 ? 'x' : '-'}\0`);
      if (e.kind === 'file') {
        let size: number;
        if (Buffer.isBuffer(content)) {
          h.update(content);
          size = content.length;
        } else {
          // a large file: hashed from the copy (ours: nothing else writes it)
          size = 0;
          const fh = await fs.open(path.join(to, e.rel), 'r');
          try {
            for await (const chunk of fh.createReadStream()) {
              h.update(chunk as Buffer);
              size += (chunk as Buffer).length;
            }
          } finally {
            await fh.close().catch(() => undefined);
          }
        }
        h.update(`\0${size}\0`);
      } else if (e.kind === 'symlink') {
        h.update(`${content as string}\0`);
      }
    }
    // directories last, deepest first: making their entries moved their times
    for (const e of entries.filter((x) => x.kind === 'dir').reverse()) await fs.utimes(path.join(to, e.rel), epoch, epoch);
    await fs.utimes(to, epoch, epoch);
    return h.digest('hex');
  } catch (err) {
    if (err instanceof SpecError) throw err;
    throw new SpecError('SOURCE_COPY_FAILED', `cannot copy the sources from ${from}`, { cause: err });
  }
}
