import { execa } from 'execa';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUILD_PATH } from '../engine/sandbox.js';
import { findOnPath } from '../host-tools.js';

/** Tools whose version a rebuilder needs to know, and how to ask each. */
export const TOOLCHAIN_PROBES: ReadonlyArray<readonly [name: string, file: string, args: readonly string[]]> = [
  ['gcc', 'gcc', ['--version']],
  ['g++', 'g++', ['--version']],
  ['clang', 'clang', ['--version']],
  ['ld', 'ld', ['--version']],
  ['make', 'make', ['--version']],
  ['go', 'go', ['version']],
  ['javac', 'javac', ['-version']],
  ['java', 'java', ['-version']],
  ['node', 'node', ['--version']],
  ['python3', 'python3', ['--version']],
  ['rustc', 'rustc', ['--version']],
  ['bwrap', 'bwrap', ['--version']],
  ['tar', 'tar', ['--version']],
];

/**
 * First non-empty line of a tool's version output (stdout, else stderr); null when absent.
 * The tool is looked up on the PATH builds run with, not the caller's: the record says what
 * a build uses, whoever collects it (a worker with ~/.cargo/bin first on its PATH included).
 */
export async function probeVersion(file: string, args: readonly string[], pathVar: string = BUILD_PATH): Promise<string | null> {
  try {
    const r = await execa(file, args, { timeout: 15_000, reject: false, stdin: 'ignore', env: { LC_ALL: 'C', PATH: pathVar } });
    if (r.failed && r.exitCode === undefined) return null;
    const line = [r.stdout, r.stderr]
      .map((s) => String(s ?? '').split('\n').map((l) => l.trim()).find((l) => l !== ''))
      .find((l) => l !== undefined);
    return line ?? null;
  } catch {
    return null;
  }
}

export interface ToolchainOptions {
  /** where the tools are looked up (default: the PATH builds run with) */
  path?: string;
  /** the file answers are kept in between runs (default: defaultCacheFile); null: none */
  cacheFile?: string | null;
}

/** The file that identifies what answered: the tool as found on PATH, every link followed, and its inode's identity. */
async function identity(tool: string, pathVar: string): Promise<string | null> {
  const found = await findOnPath(tool, pathVar);
  if (found === null) return null;
  try {
    const real = await fs.realpath(found);
    const st = await fs.stat(real, { bigint: true });
    return `${found} ${real} ${st.dev}:${st.ino} ${st.size} ${st.mtimeNs} ${st.ctimeNs}`;
  } catch {
    return null;
  }
}

/**
 * $XDG_CACHE_HOME/detbuild/toolchain.json, else ~/.cache/detbuild/toolchain.json, when that
 * base is a directory that exists: a user without a home (Debian's system users have
 * HOME=/nonexistent) gets no cache, and no home is made for one.
 */
async function defaultCacheFile(): Promise<string | null> {
  const home = process.env.HOME && process.env.HOME !== '/nonexistent' ? process.env.HOME : null;
  const [root, base] = process.env.XDG_CACHE_HOME ? [process.env.XDG_CACHE_HOME, process.env.XDG_CACHE_HOME] : home ? [home, path.join(home, '.cache')] : [null, null];
  if (root === null || base === null) return null;
  const st = await fs.stat(root).catch(() => null);
  return st?.isDirectory() ? path.join(base, 'detbuild', 'toolchain.json') : null;
}

/** The package database's state: an installed or removed package may change what a tool prints through files the tool's own identity does not cover. */
async function packagesState(): Promise<string> {
  for (const f of ['/var/lib/dpkg/status', '/var/lib/rpm/rpmdb.sqlite', '/var/lib/rpm/Packages']) {
    try {
      const st = await fs.stat(f, { bigint: true });
      return `${f} ${st.ino} ${st.size} ${st.mtimeNs}`;
    } catch {
      // not this package manager
    }
  }
  return 'none';
}

/**
 * The version of every tool in TOOLCHAIN_PROBES (null when absent). Asking takes a JVM's
 * start for javac and java, and ~0.2 s of wall time per command-line build in all, so
 * answers are kept in a cache, each under the identity of the file that gave it (path,
 * links followed, inode, size, times) and the package database's state: a tool replaced,
 * relinked or upgraded, or any package installed or removed, is asked again.
 */
export async function collectToolchain(opts: ToolchainOptions = {}): Promise<Record<string, string | null>> {
  const pathVar = opts.path ?? BUILD_PATH;
  const cacheFile = opts.cacheFile === undefined ? await defaultCacheFile() : opts.cacheFile;
  const [ids, state] = await Promise.all([Promise.all(TOOLCHAIN_PROBES.map(([, file]) => identity(file, pathVar))), packagesState()]);
  const cached = cacheFile ? await readCache(cacheFile) : {};
  const keyOf = (i: number): string | null => (ids[i] === null ? null : `${state} ${ids[i]} ${TOOLCHAIN_PROBES[i]![2].join(' ')}`);
  let fresh = false;
  const results = await Promise.all(
    TOOLCHAIN_PROBES.map(async ([, file, args], i) => {
      const key = keyOf(i);
      if (key === null) return null; // not installed: nothing to ask
      if (Object.hasOwn(cached, key)) return cached[key]!;
      fresh = true;
      return probeVersion(file, args, pathVar);
    }),
  );
  const out: Record<string, string | null> = {};
  TOOLCHAIN_PROBES.forEach(([name], i) => {
    out[name] = results[i] ?? null;
  });
  if (cacheFile && fresh) {
    const next: Record<string, string | null> = {};
    TOOLCHAIN_PROBES.forEach((_, i) => {
      const key = keyOf(i);
      if (key !== null) next[key] = results[i] ?? null;
    });
    await writeCache(cacheFile, next);
  }
  return out;
}

async function readCache(file: string): Promise<Record<string, string | null>> {
  try {
    const v: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x === null || typeof x === 'string')) as Record<string, string | null>;
  } catch {
    return {}; // none yet, or unreadable: ask
  }
}

/** Written whole and renamed into place; a cache that cannot be written only costs the next run its questions. */
async function writeCache(file: string, entries: Record<string, string | null>): Promise<void> {
  const tmp = `${file}.${process.pid}.${os.hostname()}.tmp`;
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(tmp, `${JSON.stringify(entries, null, 1)}\n`);
    await fs.rename(tmp, file);
  } catch {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
  }
}
