/**
 * The detbuild CLI as the tests run it, the one runner every test uses: the compiled entry
 * point (or $DETBUILD_CLI) under this Node.js, never throwing on a non-zero exit, stdin
 * closed, under chosen real conditions of the caller (environment, working directory,
 * umask, CPU through taskset).
 */
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { repoRoot } from './trees.js';

/** The detbuild CLI entry point the runners call. */
export function cliPath(): string {
  return process.env.DETBUILD_CLI ?? path.join(repoRoot, 'dist', 'cli', 'main.js');
}

/** Throws a clear error when the CLI has not been built. */
export function requireCli(): string {
  const cli = cliPath();
  if (!existsSync(cli)) {
    throw new Error(`detbuild CLI not found at ${cli}: run \`npm run build\` first (or set DETBUILD_CLI)`);
  }
  return cli;
}

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface CliConditions {
  /** added to this process's environment */
  env?: Record<string, string>;
  cwd?: string;
  /** the caller's umask (default 022) */
  umask?: string;
  /** the CPU the CLI is pinned to (taskset) */
  cpu?: number;
  /** ms (default 5 minutes) */
  timeout?: number;
}

/** The other CPU than 0 when there is one (a rebuild runs on another CPU than the build). */
export const otherCpu = cpus().length > 1 ? 1 : 0;

/** Conditions of a rebuild made elsewhere, later: another CPU, time zone, locale, umask. */
export const ELSEWHERE: CliConditions = {
  cpu: otherCpu,
  umask: '077',
  env: { TZ: 'Asia/Tokyo', LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8', MAKEFLAGS: '-j8', SOURCE_DATE_EPOCH: '1' },
};

/** The argv that runs `detbuild ARGS...` under the conditions' umask and CPU. */
export function cliArgv(args: string[], c: Pick<CliConditions, 'umask' | 'cpu'> = {}): string[] {
  const node = [process.execPath, requireCli(), ...args];
  const pinned = c.cpu === undefined ? node : ['taskset', '-c', String(c.cpu), ...node];
  return ['sh', '-c', `umask ${c.umask ?? '022'}; exec "$@"`, 'sh', ...pinned];
}

/** Starts `detbuild ARGS...` (for a test that signals it); awaited, it never rejects. */
export function startCli(args: string[], c: CliConditions = {}) {
  const [file, ...rest] = cliArgv(args, c);
  return execa(file!, rest, {
    reject: false,
    stdin: 'ignore',
    timeout: c.timeout ?? 300_000,
    maxBuffer: 64 * 1024 * 1024,
    ...(c.env ? { env: c.env } : {}),
    ...(c.cwd ? { cwd: c.cwd } : {}),
  });
}

/** Runs `detbuild ARGS...`; the result carries exitCode, stdout and stderr whatever the outcome. */
export async function runCli(args: string[], c: CliConditions = {}): Promise<CliRun> {
  const r = await startCli(args, c);
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}
