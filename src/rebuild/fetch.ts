/**
 * Where a rebuild's inputs come from when they are not already here: a rebuild input file
 * (format detbuild-rebuild-input/1: the provenance and a pointer to the sources), and
 * sources given as a directory, a tarball or a Debian .dsc, each a path or a URL
 * (http, https, file). A .dsc's files are fetched from beside it, as dget does.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { z } from 'zod';
import { readDsc } from '../recipes/dsc.js';
import { describeError } from '../errors.js';
import { RebuildError } from './errors.js';

export const RebuildInputSchema = z
  .object({
    format: z.literal('detbuild-rebuild-input/1'),
    /** the published provenance: a path (relative to this file), a URL, or the statement itself */
    provenance: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
    /** the sources: a directory, a tarball or a .dsc, as a path (relative to this file) or a URL */
    sources: z.string().min(1),
  })
  .strict();
export type RebuildInput = z.infer<typeof RebuildInputSchema>;

const isUrl = (s: string): boolean => /^(https?|file):\/\//.test(s);

/** Resolves a pointer written in `baseDir`'s file to an absolute path or a URL. */
function resolvePointer(pointer: string, baseDir: string): string {
  if (isUrl(pointer)) return pointer.startsWith('file://') ? fileURLToPath(pointer) : pointer;
  return path.resolve(baseDir, pointer);
}

async function download(url: string, file: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow' });
  } catch (err) {
    throw new RebuildError('REBUILD_FETCH', `cannot fetch ${url}: ${describeError(err)}`, { cause: err });
  }
  if (!res.ok || !res.body) throw new RebuildError('REBUILD_FETCH', `cannot fetch ${url}: HTTP ${res.status}`);
  await pipeline(Readable.fromWeb(res.body as never), createWriteStream(file));
}

/** A local copy (or the file itself) of a path or URL, named by its last component, in `dir`. */
async function obtain(pointer: string, dir: string): Promise<string> {
  if (!isUrl(pointer)) return pointer;
  const name = decodeURIComponent(new URL(pointer).pathname.split('/').pop() ?? '');
  if (!name || name === '.' || name === '..') throw new RebuildError('REBUILD_FETCH', `${pointer} names no file`);
  const file = path.join(dir, name);
  await download(pointer, file);
  return file;
}

/** The directory of a .dsc with every file it lists, fetched from beside it when it is a URL. */
async function obtainSourcePackage(pointer: string, dir: string): Promise<string> {
  if (!isUrl(pointer)) return path.dirname(pointer);
  const dsc = await obtain(pointer, dir);
  for (const f of (await readDsc(dsc)).files) {
    if (!/^[A-Za-z0-9][A-Za-z0-9.+~_-]*$/.test(f.name)) throw new RebuildError('REBUILD_FETCH', `${path.basename(dsc)} lists a file named ${JSON.stringify(f.name)}`);
    await download(new URL(encodeURIComponent(f.name), pointer).toString(), path.join(dir, f.name));
  }
  return dir;
}

/** Unpacks a tarball; a tree with a single top-level directory is that directory. */
async function unpack(archive: string, dir: string): Promise<string> {
  const into = path.join(dir, 'unpacked');
  await fs.mkdir(into);
  const r = await execa('tar', ['-xf', archive, '-C', into, '--no-same-owner', '--no-same-permissions'], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new RebuildError('REBUILD_FETCH', `cannot unpack ${path.basename(archive)}: ${String(r.stderr).trim().split('\n')[0]}`);
  const top = await fs.readdir(into, { withFileTypes: true });
  return top.length === 1 && top[0]!.isDirectory() ? path.join(into, top[0]!.name) : into;
}

/** The sources as a directory a rebuild can hash and build; fetched and unpacked into `workDir` when needed. */
export async function obtainSources(pointer: string, workDir: string): Promise<string> {
  const where = resolvePointer(pointer, process.cwd());
  if (!isUrl(where)) {
    const st = await fs.stat(where).catch(() => null);
    if (!st) throw new RebuildError('REBUILD_SOURCES', `the sources do not exist: ${where}`);
    if (st.isDirectory()) return where;
  }
  await fs.mkdir(workDir, { recursive: true });
  if (/\.dsc$/.test(where)) return obtainSourcePackage(where, workDir);
  if (/\.(tar|tar\.gz|tgz|tar\.xz|txz|tar\.bz2|tar\.zst)$/.test(where)) return unpack(await obtain(where, workDir), workDir);
  throw new RebuildError('REBUILD_SOURCES', `the sources must be a directory, a tarball or a .dsc: ${pointer}`);
}

/** A rebuild input file read: the provenance as a local file, and the sources pointer (absolute or a URL). */
export async function readRebuildInput(file: string, value: unknown, workDir: string): Promise<{ provenance: string; sources: string }> {
  const r = RebuildInputSchema.safeParse(value);
  if (!r.success) throw new RebuildError('REBUILD_INPUT', `${file} is not a rebuild input: ${r.error.issues[0]!.path.join('.') || 'top'}: ${r.error.issues[0]!.message}`);
  const base = path.dirname(file);
  await fs.mkdir(workDir, { recursive: true });
  let provenance: string;
  if (typeof r.data.provenance === 'string') {
    const p = resolvePointer(r.data.provenance, base);
    provenance = isUrl(p) ? await obtain(p, workDir) : p;
  } else {
    provenance = path.join(workDir, 'provenance.json');
    await fs.writeFile(provenance, JSON.stringify(r.data.provenance));
  }
  return { provenance, sources: resolvePointer(r.data.sources, base) };
}
