/**
 * `detbuild verify`: one spec built twice on this machine, run B under
 * deliberately different real conditions (variations.ts), the two results
 * compared artifact by artifact, and diffoscope run on them when they differ.
 * With an output directory, both results, the report (verify.json) and
 * diffoscope's report are published there atomically.
 */
import { existsSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertOutDirUsable, failedLogPath, publishResult } from '../engine/publish.js';
import type { BuildEvent, BuildResult, BuildSpec, Manifest } from '../engine/types.js';
import { DIFFOSCOPE_DEFAULTS, diffoscopeReport, type DiffoscopeOptions } from '../record/diffoscope.js';
import { diffArtifacts, type ArtifactDifference } from '../record/manifest.js';
import { VerifyError } from './errors.js';
import { hostFacts } from './host.js';
import { runOne, type RunPaths } from './run-one.js';
import { planRuns, type AppliedVariation, type RunConditions } from './variations.js';
import { moveTree } from '../engine/move-tree.js';

export type VerifyStatus =
  /** both builds succeeded and every artifact is the same */
  | 'identical'
  /** both builds succeeded and differ */
  | 'differ'
  /** a build did not succeed (its result says how) */
  | 'build-failed';

export interface VerifyRun {
  name: 'a' | 'b';
  conditions: RunConditions;
  result: BuildResult | null;
}

export interface VerifyResult {
  status: VerifyStatus;
  message: string;
  variations: AppliedVariation[];
  runs: VerifyRun[];
  /** the run that failed, for 'build-failed' */
  failedRun?: 'a' | 'b';
  /** artifacts that differ (path, and each side's size and sha256) */
  differences: ArtifactDifference[];
  /** manifest fields besides the artifacts that differ (sourceHash, epoch, ...) */
  manifestDifferences: string[];
  /** diffoscope's text report, when the builds differ and diffoscope is installed */
  diffoscope: string | null;
  /** where the results were published (OUT_DIR), or null */
  outDir: string | null;
  /** the failed run's log, kept beside OUT_DIR (or in the temporary directory) */
  logPath: string | null;
}

export interface VerifyOptions {
  /** publish both results and the report here; must not exist or be empty */
  outDir?: string;
  signal?: AbortSignal;
  /** a build event of run A or B, or a stage of verify itself (run null) */
  onEvent?: (run: 'a' | 'b' | null, e: BuildEvent) => void;
  /** the build child script (default: child/main.js beside this module; an entry point, named main.js like the others) */
  childScript?: string;
  diffoscope?: DiffoscopeOptions;
}

const MANIFEST_FIELDS = ['mode', 'epoch', 'seed', 'timeStepNs', 'command', 'sourceHash', 'epochFrom', 'gitCommit'] as const;

function defaultChildScript(): string {
  return fileURLToPath(new URL('./child/main.js', import.meta.url));
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

export async function verifyBuild(spec: BuildSpec, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const stage = (message: string, run: 'a' | 'b' | null = null) => opts.onEvent?.(run, { kind: 'stage', stage: 'prepare', message });
  const outDir = opts.outDir ? path.resolve(opts.outDir) : null;
  if (outDir) await assertOutDirUsable(outDir);
  const childScript = opts.childScript ?? defaultChildScript();
  if (!existsSync(childScript)) throw new VerifyError('VERIFY_NO_CHILD', `the build child is missing at ${childScript} (Hint: run 'npm run build')`);

  const host = await hostFacts(childScript);
  const plan = planRuns(host);
  const skipped = plan.variations.filter((v) => v.skipped);
  stage(`run B varies: ${plan.variations.filter((v) => !v.skipped).map((v) => v.name).join(', ')}${skipped.length ? `; not here: ${skipped.map((v) => `${v.name} (${v.skipped})`).join(', ')}` : ''}`);

  // every run's files below one world-readable directory: a run as nobody must reach its own
  const work = await fs.mkdtemp(path.join(tmpdir(), 'detbuild-verify-'));
  const extra: string[] = [];
  try {
    await fs.chmod(work, 0o755);
    const runs: VerifyRun[] = [];
    for (const cond of [plan.a, plan.b]) {
      const dir = path.join(work, cond.name);
      await fs.mkdir(dir);
      await fs.chmod(dir, 0o755);
      let tmp = path.join(dir, 'tmp');
      if (cond.workspaceOnTmpfs) {
        tmp = await fs.mkdtemp('/dev/shm/detbuild-verify-');
        extra.push(tmp);
      }
      const paths: RunPaths = { dir, src: path.join(dir, ...cond.sourcePath), out: path.join(dir, 'out'), tmp };
      if (cond.startDelayMs > 0) {
        stage(`run ${cond.name} starts in ${cond.startDelayMs / 1000} s`, cond.name);
        await sleep(cond.startDelayMs, opts.signal);
      }
      if (opts.signal?.aborted) {
        const cancelled: BuildResult = { ok: false, status: 'cancelled', message: 'cancelled before it started', exitCode: null, signal: null, outDir: null, manifest: null, logPath: null, durationMs: 0 };
        runs.push({ name: cond.name, conditions: cond, result: cancelled });
        return await failed(runs, cond.name, cancelled, plan.variations, outDir);
      }
      stage(`run ${cond.name}: building in ${paths.src}`, cond.name);
      const result = await runOne(spec, cond, paths, {
        childScript,
        nobody: host.nobody,
        signal: opts.signal,
        onEvent: (e) => opts.onEvent?.(cond.name, e),
      });
      runs.push({ name: cond.name, conditions: cond, result });
      if (!result.ok) return await failed(runs, cond.name, result, plan.variations, outDir);
    }
    // results of a run as nobody become the caller's
    if (plan.b.user === 'nobody') await chownTree(path.join(work, 'b', 'out'), process.getuid!(), process.getgid!());

    const [ma, mb] = [runs[0]!.result!.manifest!, runs[1]!.result!.manifest!];
    const differences = diffArtifacts(ma.artifacts, mb.artifacts);
    const manifestDifferences = MANIFEST_FIELDS.filter((k) => (ma as Manifest)[k] !== (mb as Manifest)[k]);
    const identical = differences.length === 0 && manifestDifferences.length === 0;
    let diffoscope: string | null = null;
    if (differences.length > 0) {
      stage(`${differences.length} artifact(s) differ: running diffoscope`);
      diffoscope = await diffoscopeReport(path.join(work, 'a', 'out', 'artifacts'), path.join(work, 'b', 'out', 'artifacts'), opts.diffoscope ?? DIFFOSCOPE_DEFAULTS);
    }
    const names = differences.slice(0, 5).map((d) => d.path).join(', ') + (differences.length > 5 ? ', …' : '');
    const result: VerifyResult = {
      status: identical ? 'identical' : 'differ',
      message: identical
        ? `the two builds are identical (${ma.artifacts.length} artifacts)`
        : differences.length > 0
          ? `the two builds differ in ${differences.length} of ${new Set([...ma.artifacts, ...mb.artifacts].map((x) => x.path)).size} artifact(s): ${names}`
          : `the two builds' manifests differ in ${manifestDifferences.join(', ')}`,
      variations: plan.variations,
      runs,
      differences,
      manifestDifferences,
      diffoscope,
      outDir: null,
      logPath: null,
    };
    if (outDir) {
      await publish(work, outDir, result);
      result.outDir = outDir;
    }
    return result;
  } finally {
    for (const d of [work, ...extra]) await fs.rm(d, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** A run that did not succeed: nothing is published; its log is kept beside OUT_DIR (or in TMPDIR). */
async function failed(runs: VerifyRun[], name: 'a' | 'b', result: BuildResult, variations: AppliedVariation[], outDir: string | null): Promise<VerifyResult> {
  let logPath: string | null = null;
  if (result.logPath) {
    logPath = outDir ? failedLogPath(outDir) : path.join(tmpdir(), `detbuild-verify-${process.pid}-${Date.now()}-${name}.failed.log`);
    await fs.copyFile(result.logPath, logPath).catch(() => {
      logPath = null;
    });
  }
  return {
    status: 'build-failed',
    message: `run ${name}: ${result.message}`,
    variations,
    runs,
    failedRun: name,
    differences: [],
    manifestDifferences: [],
    diffoscope: null,
    outDir: null,
    logPath,
  };
}

/** OUT_DIR/a, OUT_DIR/b (each a build's result), verify.json and diffoscope.txt, renamed into place last. */
async function publish(work: string, outDir: string, result: VerifyResult): Promise<void> {
  try {
    await publishResult(outDir, async (staging) => {
      for (const run of ['a', 'b'] as const) await moveTree(path.join(work, run, 'out'), path.join(staging, run));
      const report = {
        ...result,
        outDir,
        runs: result.runs.map((r) => ({ ...r, result: r.result && { ...r.result, outDir: path.join(outDir, r.name), logPath: path.join(outDir, r.name, 'build.log') } })),
      };
      await fs.writeFile(path.join(staging, 'verify.json'), `${JSON.stringify(report, null, 2)}\n`);
      if (result.diffoscope !== null) await fs.writeFile(path.join(staging, 'diffoscope.txt'), result.diffoscope);
    });
  } catch (err) {
    throw new VerifyError('VERIFY_PUBLISH_FAILED', `cannot write the results to ${outDir}`, { cause: err });
  }
  for (const r of result.runs) {
    if (r.result) {
      r.result.outDir = path.join(outDir, r.name);
      r.result.logPath = path.join(outDir, r.name, 'build.log');
    }
  }
}

async function chownTree(root: string, uid: number, gid: number): Promise<void> {
  await fs.lchown(root, uid, gid);
  for (const e of await fs.readdir(root, { withFileTypes: true })) {
    const p = path.join(root, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else await fs.lchown(p, uid, gid);
  }
}
