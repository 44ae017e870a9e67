/**
 * The shared CLI runner's entry point (test/helpers/cli.ts) under chosen real conditions of
 * the caller: umask, CPU (taskset), environment, working directory.
 */
import { execa } from 'execa';
import { mkdtemp } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { requireCli } from '../helpers/cli.js';

export interface Cli {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliConditions {
  env?: Record<string, string>;
  umask?: string;
  cpu?: number;
  cwd?: string;
}

/** The other CPU than 0 when there is one (a rebuild runs on another CPU than the build). */
export const otherCpu = cpus().length > 1 ? 1 : 0;

export async function detbuild(args: string[], c: CliConditions = {}): Promise<Cli> {
  const node = [process.execPath, requireCli(), ...args];
  const argv = c.cpu === undefined ? node : ['taskset', '-c', String(c.cpu), ...node];
  const r = await execa('sh', ['-c', `umask ${c.umask ?? '022'}; exec "$@"`, 'sh', ...argv], {
    reject: false,
    env: { ...process.env, ...c.env },
    cwd: c.cwd,
    stdin: 'ignore',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export function scratch(label: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `detbuild-${label}-`));
}

/** Conditions of a rebuild made elsewhere, later: another CPU, time zone, locale, umask. */
export const ELSEWHERE: CliConditions = {
  cpu: otherCpu,
  umask: '077',
  env: { TZ: 'Asia/Tokyo', LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8', MAKEFLAGS: '-j8', SOURCE_DATE_EPOCH: '1' },
};
