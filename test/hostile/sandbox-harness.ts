/**
 * Hostile builds against the engine's sandbox: C programs from
 * test/hostile/fixtures compiled once per test file, copied into a fresh
 * source directory, and run through the engine as a library (runBuild), with
 * the spec's limits as the test chooses.
 */
import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultSpecFor, runBuild, type BuildOutcome } from '../../src/engine/index.js';
import type { BuildLimits, EngineMode } from '../../src/engine/types.js';
import { repoRoot } from '../helpers/trees.js';

export interface HostileRun {
  result: BuildOutcome;
  /** the build's log (build.log on success, the kept failed log otherwise) */
  log: string;
  /** "name: result" lines of the fixture programs, by name */
  lines: Map<string, string>;
  outDir: string;
}

export class HostileBench {
  private constructor(readonly work: string) {}

  static async create(label: string): Promise<HostileBench> {
    return new HostileBench(await mkdtemp(path.join(tmpdir(), `detbuild-hostile-${label}-`)));
  }

  /** Compiles test/hostile/fixtures/NAME.c into the bench's directory (once) and returns its path. */
  async compile(name: string, extra: string[] = []): Promise<string> {
    const bin = path.join(this.work, 'bin', name);
    await mkdir(path.dirname(bin), { recursive: true });
    await execa('cc', ['-O2', '-Wall', '-o', bin, path.join(repoRoot, 'test', 'hostile', 'fixtures', `${name}.c`), ...extra]);
    return bin;
  }

  /** Runs `command` in a source directory holding copies of `programs`. */
  async build(opts: {
    programs: string[];
    command: string;
    mode?: EngineMode;
    limits?: Partial<BuildLimits>;
    epoch?: number;
    signal?: AbortSignal;
  }): Promise<HostileRun> {
    const root = await mkdtemp(path.join(this.work, 'run-'));
    const src = path.join(root, 'src');
    await mkdir(src);
    for (const p of opts.programs) await execa('cp', [p, src]);
    const { spec } = await defaultSpecFor(src, {
      command: opts.command,
      mode: opts.mode ?? 'deterministic',
      epoch: opts.epoch ?? 1_000_000_000,
      limits: opts.limits,
    });
    const outDir = path.join(root, 'out');
    const result = await runBuild(spec, { outDir, signal: opts.signal });
    const logPath = result.logPath ?? `${outDir}.failed.log`;
    const log = await readFile(logPath, 'utf8').catch(() => '');
    const lines = new Map<string, string>();
    for (const l of log.split('\n')) {
      const m = /^([a-z0-9-]+): (.*)$/.exec(l);
      if (m) lines.set(m[1]!, m[2]!);
    }
    return { result, log, lines, outDir };
  }

  async remove(): Promise<void> {
    await rm(this.work, { recursive: true, force: true });
  }
}

/** Host processes whose command line contains `token`. */
export async function processesWith(token: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(token)) found.push(Number(name));
  }
  return found;
}

/**
 * Kills every host process in the PID namespace of each given process (what
 * the test must clean up when the engine failed to): a namespace dies with its pid 1.
 */
export async function killNamespacesOf(pids: number[]): Promise<void> {
  const namespaces = new Set<string>();
  for (const pid of pids) {
    const ns = await readlink(`/proc/${pid}/ns/pid`).catch(() => null);
    if (ns) namespaces.add(ns);
  }
  if (namespaces.size === 0) return;
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ns = await readlink(`/proc/${name}/ns/pid`).catch(() => null);
    if (ns && namespaces.has(ns)) {
      try {
        process.kill(Number(name), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
