/**
 * One request, start to end, in the worker: receive and extract the sources, resolve the
 * spec with the engine's defaults, run the engine (once, or twice for verify), stream the
 * log and the results, and always finish with exactly one status frame.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { ResolvedSpec, runBuild as RunBuild } from '../../engine/index.js';
import type { BuildEvent, BuildResult, BuildSpec } from '../../engine/types.js';
import { describeError } from '../../errors.js';
import { FrameType } from '../../protocol/constants.js';
import { ProtocolError } from '../../protocol/errors.js';
import type { FinalStatus, VerifyReport } from '../../protocol/messages.js';
import { FrameWriter } from '../../protocol/writer.js';
import { makeRecord } from '../../record/collect.js';
import { buildParametersFor } from '../../record/parameters.js';
import { diffArtifacts } from '../../record/manifest.js';
import { removeWorkspace } from '../../engine/workspace.js';
import type { Environment, EnvironmentRecord, RecipeRecord } from '../../record/schema.js';
import type { DaemonConfig } from '../config.js';
import { diffoscopeReport } from '../../record/diffoscope.js';
import { LiveLog } from './live-log.js';
import type { Logger } from '../logger.js';
import { finalStatus, finalStatusOfError, finalStatusOfResult } from '../../outcome.js';
import { readRequest } from './request.js';
import { checkRequiredEnvironment } from './require-environment.js';
import { sendResults } from './respond.js';
import { recipeRecordOf, specFromRecipe } from './spec.js';
import { RpmSourceBuildError } from '../../recipes/rpm-spec.js';
import { withTransferLimits } from './stall.js';

export interface JobDeps {
  config: DaemonConfig;
  runBuild: typeof RunBuild;
  environment: () => Promise<Environment>;
}

export interface JobRequest {
  id: string;
  caller: string;
  mode: 'build' | 'verify';
  input: Readable;
  output: Writable;
  logger: Logger;
  /** aborted by Cancel over D-Bus */
  signal: AbortSignal;
}

export async function runJob(deps: JobDeps, job: JobRequest): Promise<FinalStatus> {
  const { config } = deps;
  // a caller that stops reading its response (and stays connected) loses its build
  const writer = new FrameWriter(job.output, undefined, config.responseStallTimeoutMs);
  const abort = new AbortController();
  const onCancel = () => abort.abort();
  // a cancelled job stops reading its request at once
  abort.signal.addEventListener('abort', () => job.input.destroy(new Error('cancelled')));
  job.signal.addEventListener('abort', onCancel);
  if (job.signal.aborted) abort.abort();
  // a caller that went away shows up as a failed write: stop the build, nobody will read it
  const onBroken = (err?: Error) => {
    if (!abort.signal.aborted) job.logger.warn(`the caller's stream broke${err ? `: ${err.message}` : ''}; cancelling`);
    abort.abort();
  };
  job.output.on('error', onBroken);

  let ws: string | null = null;
  let status: FinalStatus;
  try {
    ws = await fs.mkdtemp(join(config.workDir, `${job.id}-`));
    status = await receiveAndBuild(deps, job, writer, ws, abort.signal);
  } catch (err) {
    if (err instanceof ProtocolError && err.code === 'PROTOCOL_STALLED') {
      job.logger.warn(`the caller stopped reading its response (${describeError(err)}); its build is dropped`);
      abort.abort();
      job.output.destroy();
      status = finalStatus('cancelled', `the caller stopped reading its response for ${Math.round(config.responseStallTimeoutMs / 1000)} s`);
    } else status = finalStatusOfError(err);
  } finally {
    job.signal.removeEventListener('abort', onCancel);
  }
  if (abort.signal.aborted && status.status !== 'cancelled' && job.output.destroyed) {
    status = finalStatus('cancelled', 'the caller went away', status.build);
  }
  try {
    await writer.json(FrameType.status, status);
    await writer.end();
  } catch (err) {
    job.logger.warn(`cannot send the final status: ${describeError(err)}`);
  }
  job.output.destroy();
  if (ws) await removeWorkspace(ws, (message) => job.logger.error(message));
  return status;
}

async function receiveAndBuild(deps: JobDeps, job: JobRequest, writer: FrameWriter, ws: string, signal: AbortSignal): Promise<FinalStatus> {
  const { config } = deps;
  const srcDir = join(ws, 'src');
  await fs.mkdir(srcDir, { mode: 0o755 });
  const log = new LiveLog(writer, config.defaultLimits.maxLogBytes);

  log.stage('receive', 'receiving sources');
  let recipe;
  try {
    const limits = {
      idleMs: config.requestIdleTimeoutMs,
      deadlineMs: config.requestDeadlineMs,
      minBytesPerSecond: config.requestMinBytesPerSecond,
      graceMs: config.requestRateGraceMs,
    };
    const req = await readRequest(withTransferLimits(job.input, limits), srcDir, {
      maxRequestBytes: config.maxRequestBytes,
      maxRequestFiles: config.maxRequestFiles,
    });
    recipe = req.recipe;
    job.logger.info(`received ${req.sources.entries} entries (${req.tarBytes} tar bytes)`);
  } catch (err) {
    if (signal.aborted) return finalStatus('cancelled', 'cancelled while receiving the request');
    job.logger.warn(`request refused: ${describeError(err)}`);
    return finalStatusOfError(err);
  } finally {
    // nothing more is read; the request's descriptor is closed before any build starts
    job.input.destroy();
  }
  if (signal.aborted) return finalStatus('cancelled', 'cancelled before the build started');

  let resolved: ResolvedBuild;
  try {
    await checkRequiredEnvironment(recipe.requireEnvironment, deps.environment);
    resolved = { ...(await specFromRecipe(recipe, srcDir, config, job.logger, { runBuild: deps.runBuild, onEvent: log.onEvent, signal })), recipe: recipeRecordOf(recipe) };
  } catch (err) {
    job.logger.warn(`recipe refused: ${describeError(err)}`);
    // the first phase of a two-phase recipe (rpm from a spec) ran and failed: its own status
    if (err instanceof RpmSourceBuildError) return { ...finalStatusOfResult(job.id, err.result), message: err.message };
    return finalStatusOfError(err);
  }
  job.logger.info(`building (${job.mode}, ${resolved.spec.mode}): ${resolved.spec.command}`);
  return job.mode === 'verify'
    ? verifyTwice(deps, job, writer, ws, resolved, signal)
    : buildOnce(deps, job, writer, ws, resolved, signal);
}

/** The spec and what the record says about the recipe it came from. */
type ResolvedBuild = ResolvedSpec & { recipe: RecipeRecord };

/** runBuild with a watchdog: if the engine overran its own time limit, abort it. */
async function watchedBuild(deps: JobDeps, job: JobRequest, spec: BuildSpec, outDir: string, log: LiveLog, signal: AbortSignal): Promise<BuildResult> {
  const watchdog = new AbortController();
  const onAbort = () => watchdog.abort();
  signal.addEventListener('abort', onAbort);
  if (signal.aborted) watchdog.abort();
  const timer = setTimeout(() => {
    job.logger.error(`the engine overran the time limit by ${deps.config.watchdogGraceMs} ms; aborting it`);
    watchdog.abort();
  }, spec.limits.timeoutMs + deps.config.watchdogGraceMs);
  try {
    const onEvent = (e: BuildEvent): void => {
      if (e.kind === 'warning') job.logger.warn(e.message);
      log.onEvent(e);
    };
    const r = await deps.runBuild(spec, { outDir, onEvent, signal: watchdog.signal, buildUser: deps.config.buildUser });
    job.logger.info(`engine: ${r.status} (${r.message}) in ${r.durationMs} ms`);
    return r;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

async function buildOnce(deps: JobDeps, job: JobRequest, writer: FrameWriter, ws: string, resolved: ResolvedBuild, signal: AbortSignal): Promise<FinalStatus> {
  const spec = resolved.spec;
  const log = new LiveLog(writer, spec.limits.maxLogBytes);
  const outDir = join(ws, 'out');
  const result = await watchedBuild(deps, job, spec, outDir, log, signal);
  const record = makeRecord(await deps.environment(), buildParametersFor(spec, result.manifest?.sourceHash ?? resolved.sourceHash, resolved.recipe));
  if (!result.ok || !result.manifest) {
    await writer.json(FrameType.record, record);
    return finalStatusOfResult(job.id, result);
  }
  log.stage('send', `sending ${result.manifest.artifacts.length} artifacts`);
  await sendResults(writer, join(outDir, 'artifacts'), result.manifest, record);
  return finalStatusOfResult(job.id, result);
}

/** What the second run of a verify changes in the real conditions around the build. */
const RUN_CONDITIONS = [
  { umask: 0o022, TZ: 'UTC', LANG: 'C.UTF-8' },
  { umask: 0o077, TZ: 'Asia/Tokyo', LANG: 'de_DE.UTF-8' },
] as const;

async function verifyTwice(deps: JobDeps, job: JobRequest, writer: FrameWriter, ws: string, resolved: ResolvedBuild, signal: AbortSignal): Promise<FinalStatus> {
  const spec = resolved.spec;
  const runs: Array<{ tag: 'a' | 'b'; src: string; out: string; result: BuildResult | null; conditions: Record<string, string> }> = [
    { tag: 'a', src: spec.sourceDir, out: join(ws, 'out-a'), result: null, conditions: {} },
    // a fresh workspace at another path, with another name length
    { tag: 'b', src: join(ws, `verify-b-${randomBytes(6).toString('hex')}`, 'sources'), out: join(ws, 'out-b'), result: null, conditions: {} },
  ];
  await fs.mkdir(join(runs[1]!.src, '..'), { recursive: true });
  await fs.cp(spec.sourceDir, runs[1]!.src, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });

  for (const [i, run] of runs.entries()) {
    const cond = RUN_CONDITIONS[i]!;
    const log = new LiveLog(writer, spec.limits.maxLogBytes, run.tag);
    run.conditions = {
      sourceDir: run.src,
      umask: cond.umask.toString(8).padStart(4, '0'),
      TZ: cond.TZ,
      LANG: cond.LANG,
      startedAt: new Date().toISOString(),
    };
    log.stage('prepare', `run ${run.tag}: ${Object.entries(run.conditions).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    const saved = { umask: process.umask(cond.umask), TZ: process.env.TZ, LANG: process.env.LANG };
    process.env.TZ = cond.TZ;
    process.env.LANG = cond.LANG;
    try {
      run.result = await watchedBuild(deps, job, { ...spec, sourceDir: run.src }, run.out, log, signal);
    } finally {
      process.umask(saved.umask);
      restoreEnv('TZ', saved.TZ);
      restoreEnv('LANG', saved.LANG);
    }
    if (!run.result.ok) {
      const s = finalStatusOfResult(job.id, run.result);
      await writer.json(FrameType.record, makeRecord(await deps.environment(), buildParametersFor(spec, resolved.sourceHash, resolved.recipe)));
      return { ...s, message: `run ${run.tag}: ${s.message}` };
    }
  }

  const [a, b] = [runs[0]!.result!, runs[1]!.result!];
  const differences = diffArtifacts(a.manifest!.artifacts, b.manifest!.artifacts);
  const live = new LiveLog(writer, spec.limits.maxLogBytes);
  live.stage('compare', differences.length === 0 ? 'the two builds are identical' : `${differences.length} artifacts differ`);
  let diffoscope: string | null = null;
  if (differences.length > 0) {
    diffoscope = await diffoscopeReport(join(runs[0]!.out, 'artifacts'), join(runs[1]!.out, 'artifacts'), deps.config.diffoscope);
  }
  const report: VerifyReport = {
    identical: differences.length === 0,
    conditions: [runs[0]!.conditions, runs[1]!.conditions],
    manifests: [a.manifest, b.manifest],
    differences,
    diffoscope,
  };
  await writer.json(FrameType.verify, report);
  const record = makeRecord(await deps.environment(), buildParametersFor(spec, a.manifest!.sourceHash, resolved.recipe));
  const build = { id: job.id, exitCode: 0, signal: null, durationMs: a.durationMs + b.durationMs };
  if (!report.identical) {
    await writer.json(FrameType.record, record);
    const names = differences.slice(0, 5).map((d) => d.path).join(', ');
    return finalStatus('not-reproducible', `the two builds differ in ${differences.length} artifact(s): ${names}${differences.length > 5 ? ', …' : ''}`, build);
  }
  live.stage('send', `sending ${a.manifest!.artifacts.length} artifacts (identical in both runs)`);
  await sendResults(writer, join(runs[0]!.out, 'artifacts'), a.manifest!, record);
  return finalStatus('success', 'the two builds are identical', build);
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
