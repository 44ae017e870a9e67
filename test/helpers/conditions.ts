/**
 * Runs one build under deliberately different REAL conditions of the caller:
 * another CPU (taskset), background CPU load, a later wall clock (the second
 * run starts seconds after the first ended; the real gap is measured), a hostile
 * environment (TZ, locale, MAKEFLAGS, SOURCE_DATE_EPOCH, HOME, TMPDIR, PATH,
 * junk) and umask 077. A determinism test builds twice and compares.
 *
 * Three runners:
 * - 'engine': `detbuild build` (dist/cli/main.js, or $DETBUILD_CLI) with the determinism engine;
 * - 'plain':  the same with `--plain`: sandbox layout, caller's real conditions (the control);
 * - 'direct': no detbuild at all: `sh -c CMD` in a fresh copy of the sources with
 *   DETBUILD_OUT set, its results laid out like the engine's (artifacts/,
 *   manifest.json, build.log). It checks fixtures and this harness without the engine.
 */
import { execa, type ResultPromise } from 'execa';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import { requireCli } from './cli.js';
import { cleanCopy, freshDir, listFiles, repoRoot, sha256File } from './trees.js';

export type Runner = 'engine' | 'plain' | 'direct';

export interface BuildRequest {
  runner: Runner;
  sourceDir: string;
  /** build command (default: the engine's: detbuild.json's `command`, else `make`) */
  command?: string;
  /** --epoch SECONDS */
  epoch?: number;
  /** --seed HEX */
  seed?: string;
  /** --time-step SECONDS */
  timeStep?: number;
  /** further CLI arguments, appended as they are */
  extraArgs?: string[];
  /** kill the whole run after this long (default 15 min) */
  timeoutMs?: number;
}

/** What differs, for the caller of the build, between two runs. */
export interface Conditions {
  name: string;
  /** pin the caller (and so everything it starts) to this CPU with `taskset -c` */
  cpu?: number;
  /** number of busy-loop processes kept running during the build */
  loadWorkers?: number;
  /** environment variables set for the caller (added to the test's own) */
  env?: Record<string, string>;
  /** give the caller a TMPDIR of its own, freshly made */
  freshTmpdir?: boolean;
  /** umask of the caller, octal digits, e.g. '077' */
  umask?: string;
}

export interface RunRecord {
  conditions: Conditions;
  request: BuildRequest;
  /** the result directory (artifacts/, manifest.json, build.log) when the build succeeded */
  outDir: string;
  /** argv actually run (after the condition wrappers) */
  argv: string[];
  exitCode: number | undefined;
  /** signal that ended the run, e.g. on timeout */
  signal: string | undefined;
  stdout: string;
  stderr: string;
  /** real wall-clock time (Date.now) at start, and duration, in ms */
  startedAt: number;
  durationMs: number;
}

export interface PairRecord {
  a: RunRecord;
  b: RunRecord;
  /** directory holding both results (remove it with removeUnlessKept) */
  root: string;
  /** real time between the starts of A and B, in ms */
  realGapMs: number;
}

const cpuCount = cpus().length;

/** Run A: the caller as it is, on CPU 0. */
export const NORMAL: Conditions = { name: 'normal', cpu: 0 };

/** Run B: another CPU, the machine loaded, a hostile environment and umask. */
export const HOSTILE: Conditions = {
  name: 'hostile',
  cpu: Math.min(1, cpuCount - 1),
  loadWorkers: Math.max(2, cpuCount),
  umask: '077',
  freshTmpdir: true,
  env: {
    TZ: 'Asia/Tokyo',
    LANG: 'de_DE.UTF-8',
    LC_ALL: 'de_DE.UTF-8',
    LC_TIME: 'de_DE.UTF-8',
    LANGUAGE: 'de',
    MAKEFLAGS: '-j8',
    SOURCE_DATE_EPOCH: '1',
    HOME: '/nonexistent',
    PATH: `/nonexistent/bin:${process.env.PATH ?? '/usr/bin:/bin'}`,
    GOMAXPROCS: '7',
    PYTHONHASHSEED: '4242',
    JAVA_TOOL_OPTIONS: '-Duser.timezone=America/Sao_Paulo',
    OMP_NUM_THREADS: '8',
    USER: 'mallory',
    DETBUILD_JUNK: 'junk '.repeat(50),
  },
};

/** Arguments of `detbuild build` for a request. */
export function cliArgs(req: BuildRequest, outDir: string): string[] {
  const args = ['build', req.sourceDir, '--out', outDir];
  if (req.command !== undefined) args.push('--command', req.command);
  if (req.epoch !== undefined) args.push('--epoch', String(req.epoch));
  if (req.seed !== undefined) args.push('--seed', req.seed);
  if (req.timeStep !== undefined) args.push('--time-step', String(req.timeStep));
  if (req.runner === 'plain') args.push('--plain');
  return [...args, ...(req.extraArgs ?? [])];
}

/** The wrappers that put the caller under the conditions: umask, then CPU pinning. */
export function conditionWrapper(cond: Conditions): string[] {
  const argv: string[] = [];
  if (cond.umask !== undefined) {
    if (!/^[0-7]{3,4}$/.test(cond.umask)) throw new Error(`bad umask ${cond.umask}`);
    argv.push('sh', '-c', `umask ${cond.umask} && exec "$@"`, 'sh');
  }
  if (cond.cpu !== undefined) argv.push('taskset', '-c', String(cond.cpu));
  return argv;
}

/** Starts busy-loop processes (pinned to `cpu` when given); the returned function stops them. */
export function startLoad(workers: number, cpu?: number): () => Promise<void> {
  const procs: ResultPromise[] = [];
  const argv = [...(cpu === undefined ? [] : ['taskset', '-c', String(cpu)]), 'sh', '-c', 'while :; do :; done'];
  for (let i = 0; i < workers; i++) {
    procs.push(execa(argv[0]!, argv.slice(1), { reject: false, stdio: 'ignore' }));
  }
  return async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs);
  };
}

async function readDefaultCommand(sourceDir: string): Promise<string> {
  try {
    const spec = JSON.parse(await readFile(path.join(sourceDir, 'detbuild.json'), 'utf8')) as { command?: unknown };
    if (typeof spec.command === 'string') return spec.command;
  } catch {
    /* no detbuild.json: the engine's default */
  }
  return 'make';
}

/**
 * Runs one build under `cond`, its result going to `outDir` (which must not exist).
 * Scratch space goes beside it (`OUT.tmpdir`, the direct runner's `OUT.work`), so
 * removing the parent of `outDir` removes everything.
 */
export async function runUnder(req: BuildRequest, cond: Conditions, outDir: string): Promise<RunRecord> {
  const env: Record<string, string> = { ...cond.env };
  if (cond.freshTmpdir) {
    env.TMPDIR = `${outDir}.tmpdir`;
    await mkdir(env.TMPDIR, { recursive: true });
  }
  let argv: string[];
  let cwd: string | undefined;
  let staging: string | undefined;
  if (req.runner === 'direct') {
    cwd = await cleanCopy(req.sourceDir, [], `${outDir}.work`);
    staging = path.join(`${outDir}.work`, 'detbuild-out');
    await mkdir(staging);
    env.DETBUILD_OUT = staging;
    argv = [...conditionWrapper(cond), 'sh', '-c', req.command ?? (await readDefaultCommand(req.sourceDir))];
  } else {
    argv = [...conditionWrapper(cond), process.execPath, requireCli(), ...cliArgs(req, outDir)];
  }

  const stopLoad = cond.loadWorkers ? startLoad(cond.loadWorkers) : async () => {};
  const startedAt = Date.now();
  const t0 = performance.now();
  try {
    const res = await execa(argv[0]!, argv.slice(1), {
      cwd,
      env,
      reject: false,
      stdin: 'ignore',
      timeout: req.timeoutMs ?? 15 * 60_000,
      forceKillAfterDelay: 5_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    const record: RunRecord = {
      conditions: cond,
      request: req,
      outDir,
      argv,
      exitCode: res.exitCode,
      signal: res.signal,
      stdout: res.stdout,
      stderr: res.stderr,
      startedAt,
      durationMs: performance.now() - t0,
    };
    if (req.runner === 'direct') await collectDirect(record, staging!);
    return record;
  } finally {
    await stopLoad();
  }
}

/** Lays out a direct run's results like the engine's (artifacts/, manifest.json, build.log). */
async function collectDirect(record: RunRecord, staging: string): Promise<void> {
  const log = `${record.stdout}\n${record.stderr}\n`;
  if (record.exitCode !== 0) {
    await writeFile(`${record.outDir}.failed.log`, log);
    return;
  }
  await mkdir(record.outDir, { recursive: true });
  const artifacts = path.join(record.outDir, 'artifacts');
  await rename(staging, artifacts);
  const entries = [];
  for (const rel of await listFiles(artifacts)) {
    const file = path.join(artifacts, rel);
    entries.push({ path: rel, size: (await stat(file)).size, sha256: await sha256File(file) });
  }
  await writeFile(path.join(record.outDir, 'build.log'), log);
  await writeFile(
    path.join(record.outDir, 'manifest.json'),
    JSON.stringify({ format: 'direct-run', mode: 'direct', command: record.argv.at(-1), artifacts: entries }, null, 2),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Builds twice: A under `a`, then, at least `gapMs` after A ended (a later wall
 * clock), B under `b` (from `sourceDirB` when given: the same sources checked
 * out another way). Results go to ROOT/A and ROOT/B.
 */
export async function runPair(
  req: BuildRequest,
  opts: { a?: Conditions; b?: Conditions; gapMs?: number; sourceDirB?: string } = {},
): Promise<PairRecord> {
  const root = await freshDir(`pair-${req.runner}`);
  const a = await runUnder(req, opts.a ?? NORMAL, path.join(root, 'A'));
  const earliestB = a.startedAt + a.durationMs + (opts.gapMs ?? 3_000);
  await sleep(Math.max(0, earliestB - Date.now()));
  const reqB = opts.sourceDirB ? { ...req, sourceDir: opts.sourceDirB } : req;
  const b = await runUnder(reqB, opts.b ?? HOSTILE, path.join(root, 'B'));
  return { a, b, root, realGapMs: b.startedAt - a.startedAt };
}

/** One paragraph about a run, for assertion messages: how it ended and the end of its output. */
export function describeRun(r: RunRecord, lines = 40): string {
  const tail = (s: string) => s.split('\n').slice(-lines).join('\n');
  return [
    `run '${r.conditions.name}' (${r.request.runner}): exit ${r.exitCode ?? '-'}${r.signal ? ` signal ${r.signal}` : ''} after ${Math.round(r.durationMs)} ms`,
    `argv: ${r.argv.join(' ')}`,
    `--- stdout (tail)\n${tail(r.stdout)}`,
    `--- stderr (tail)\n${tail(r.stderr)}`,
  ].join('\n');
}
