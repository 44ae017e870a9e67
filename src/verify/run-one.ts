/**
 * One of verify's two builds under its real conditions: its own copy of the
 * sources, then the build child (child/main.ts) started through the wrappers
 * that set its umask, user, CPUs and ASLR, with its environment, and busy loops
 * beside it when the conditions ask for load.
 */
import { execa, type ResultPromise } from 'execa';
import { promises as fs } from 'node:fs';
import { machine } from 'node:os';
import path from 'node:path';
import type { BuildEvent, BuildResult, BuildSpec } from '../engine/types.js';
import { copySources } from './copy.js';
import { VerifyError } from './errors.js';
import type { RunConditions } from './variations.js';

export interface RunPaths {
  /** the run's own directory (owned by the run's user) */
  dir: string;
  /** the copy of the sources */
  src: string;
  /** the engine's result directory */
  out: string;
  /** the engine's workspace (TMPDIR of the build child) */
  tmp: string;
}

export interface RunOneOptions {
  childScript: string;
  /** the ids of `nobody`, when the conditions run the build as nobody */
  nobody: { uid: number; gid: number } | null;
  signal?: AbortSignal;
  onEvent?: (e: BuildEvent) => void;
}

/** The argv that puts the build child under the conditions: umask, user, CPUs, ASLR. */
export function wrappedCommand(cond: RunConditions, childScript: string, nobody: { uid: number; gid: number } | null): string[] {
  const argv: string[] = ['sh', '-c', `umask ${cond.umask.toString(8).padStart(3, '0')} && exec "$@"`, 'sh'];
  if (cond.user === 'nobody') {
    if (!nobody) throw new VerifyError('VERIFY_NO_NOBODY', 'the user nobody does not exist here');
    argv.push('setpriv', `--reuid=${nobody.uid}`, `--regid=${nobody.gid}`, '--clear-groups');
  }
  if (cond.cpus) argv.push('taskset', '-c', cond.cpus.join(','));
  if (!cond.aslr) argv.push('setarch', machine(), '-R');
  argv.push(process.execPath, childScript);
  return argv;
}

function startLoad(workers: number, cpus: number[] | null): () => Promise<void> {
  const procs: ResultPromise[] = [];
  for (let i = 0; i < workers; i++) {
    const loop = ['sh', '-c', 'while :; do :; done'];
    const argv = cpus ? ['taskset', '-c', String(cpus[i % cpus.length]), ...loop] : loop;
    procs.push(execa(argv[0]!, argv.slice(1), { reject: false, stdio: 'ignore' }));
  }
  return async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs);
  };
}

export async function runOne(spec: BuildSpec, cond: RunConditions, paths: RunPaths, opts: RunOneOptions): Promise<BuildResult> {
  const owner = cond.user === 'nobody' ? opts.nobody : null;
  await copySources(spec.sourceDir, paths.src, { order: cond.order, umask: cond.umask, keepTimes: cond.keepTimes, owner });
  await fs.mkdir(paths.tmp, { recursive: true });
  if (owner) for (const d of [paths.dir, paths.tmp]) await fs.chown(d, owner.uid, owner.gid);

  const argv = wrappedCommand(cond, opts.childScript, opts.nobody);
  const input = JSON.stringify({ spec: { ...spec, sourceDir: paths.src, timeStepNs: spec.timeStepNs.toString() }, outDir: paths.out });
  const stopLoad = startLoad(cond.loadWorkers, cond.cpus);
  try {
    const child = execa(argv[0]!, argv.slice(1), {
      input,
      env: { ...process.env, ...cond.env, TMPDIR: paths.tmp },
      extendEnv: false,
      cwd: paths.dir,
      reject: false,
      buffer: { stdout: false, stderr: true },
      stdout: 'pipe',
      cancelSignal: opts.signal,
      // the child turns SIGTERM into a cancelled build and reports it
      killSignal: 'SIGTERM',
      forceKillAfterDelay: 30_000,
    });
    let result: BuildResult | null = null;
    let rest = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) {
        if (!l.trim()) continue;
        const msg = JSON.parse(l) as { event?: BuildEvent; result?: BuildResult };
        if (msg.event) opts.onEvent?.(msg.event);
        if (msg.result) result = msg.result;
      }
    });
    const done = await child;
    if (result) return result;
    const why = String(done.stderr ?? '').trim().split('\n').at(-1) || `exit status ${done.exitCode ?? done.signal}`;
    throw new VerifyError('VERIFY_RUN_FAILED', `run ${cond.name}: the build process ended without a result: ${why}`);
  } finally {
    await stopLoad();
  }
}
