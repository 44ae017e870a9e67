/**
 * runBuild: one build, from a spec to a result directory, as a list of stages:
 * preflight (preflight.ts), a fresh workspace with a copy of the sources
 * (workspace.ts, sources.ts), the sandbox's layout and host view (layout.ts), the
 * build run under the supervisor and watched to its end (supervise/), its artifacts
 * hashed into a manifest (collect.ts), and the result published atomically
 * (publish.ts). Every way it ends is one result shape (result.ts), with the time
 * each stage took (timings.ts).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ArtifactEntry, BuildEvent, BuildSpec, RunOptions } from './types.js';
import { ArtifactError, OutputLimitError, listArtifacts, manifestFor } from './collect.js';
import { asHostUser } from './host-user.js';
import { sandboxLayout, writeHostView } from './layout.js';
import { appendStatsLine } from './stats-file.js';
import { StageClock } from './timings.js';
import { preflight } from './preflight.js';
import { failedLogPath, publishBuild } from './publish.js';
import { buildResult, errorResult, type BuildOutcome } from './result.js';
import { bwrapArgs, buildEnvironment } from './sandbox.js';
import { copyTree, hashTree, walkTree } from './sources.js';
import { BuildLog } from './supervise/log.js';
import { supervise } from './supervise/supervise.js';
import type { Ending } from './supervise/verdict.js';
import { makeWorkspace, removeWorkspace, retryLeftoverWorkspaces, type Workspace } from './workspace.js';

export type { BuildOutcome, EngineStats } from './result.js';

export async function runBuild(spec: BuildSpec, opts: RunOptions): Promise<BuildOutcome> {
  const emit = (e: BuildEvent): void => {
    try {
      opts.onEvent?.(e);
    } catch {
      // a listener's failure must not break the build
    }
  };
  // the workspace is gone (or reported) before the end is announced
  const clock = new StageClock();
  const r = await buildInWorkspace(spec, opts, emit, clock);
  r.timings = clock.timings;
  await appendStatsLine({ command: spec.command, mode: spec.mode, status: r.status, durationMs: r.durationMs, stats: r.stats, timings: clock.timings });
  emit({ kind: 'end', result: r });
  return r;
}

async function buildInWorkspace(spec: BuildSpec, opts: RunOptions, emit: (e: BuildEvent) => void, clock: StageClock): Promise<BuildOutcome> {
  const started = Date.now();
  const warn = (message: string): void => emit({ kind: 'warning', message });
  const outDir = path.resolve(opts.outDir);
  let ws: Workspace | null = null;
  try {
    const user = await preflight(spec, outDir, opts.buildUser);
    clock.mark('checks');

    emit({ kind: 'stage', stage: 'prepare', message: 'copying sources into a fresh workspace' });
    await retryLeftoverWorkspaces(warn);
    ws = await makeWorkspace(user);
    await copyTree(spec.sourceDir, ws.src, spec.epoch, user ?? undefined);
    const sourceHash = await hashTree(ws.src, await walkTree(ws.src));
    clock.mark('copy');
    const layout = await sandboxLayout(spec, ws, user, await writeHostView(spec, ws.view), opts.cpu);

    emit({ kind: 'stage', stage: 'run', message: `running: ${spec.command}` });
    const log = new BuildLog(path.join(ws.path, 'build.log'), spec.limits.maxLogBytes, emit);
    const command = asHostUser(user, ['bwrap', ...bwrapArgs(spec, layout, buildEnvironment(spec, process.env))]);
    clock.mark('layout');
    const run = await supervise(command, { dirs: [layout.src, layout.home, layout.out], out: layout.out }, spec.limits, log, opts.signal);
    clock.sandbox(run.spawnNs, run.exitNs, run.stats);
    const ended = async (e: Ending): Promise<BuildOutcome> => {
      const logPath = failedLogPath(outDir);
      await fs.copyFile(log.path, logPath);
      return buildResult({ ...e, durationMs: Date.now() - started, logPath });
    };
    if (run.ending) return await ended(run.ending);

    emit({ kind: 'stage', stage: 'collect', message: 'hashing artifacts' });
    const artifacts = await collect(layout.out, spec);
    if (!Array.isArray(artifacts)) return await ended({ ...artifacts, stats: run.stats });
    const manifest = manifestFor(spec, sourceHash, artifacts);
    clock.mark('collect');
    // modes as the wire carries them; the caller's again if another user built them
    await publishBuild(outDir, { out: layout.out, logPath: log.path, manifest, owner: user ? { uid: process.getuid!(), gid: process.getgid!() } : undefined }, opts.beforePublish);
    clock.mark('publish');
    emit({ kind: 'stage', stage: 'done', message: `${artifacts.length} artifacts` });
    return buildResult({ status: 'success', message: 'build succeeded', exitCode: 0, outDir, manifest, logPath: path.join(outDir, 'build.log'), durationMs: Date.now() - started, stats: run.stats });
  } catch (err) {
    return errorResult(err, Date.now() - started);
  } finally {
    if (ws) await removeWorkspace(ws.path, warn);
    clock.mark('cleanup');
  }
}

/** The artifacts, or how the build ended when what it left cannot be published (its fault, not the engine's). */
async function collect(out: string, spec: BuildSpec): Promise<ArtifactEntry[] | Omit<Ending, 'stats'>> {
  try {
    return await listArtifacts(out, spec.limits);
  } catch (err) {
    if (err instanceof OutputLimitError) return { status: 'output-limit', message: err.message, exitCode: null, signal: null };
    if (err instanceof ArtifactError) return { status: 'failed', message: `the build's output cannot be published: ${err.message}`, exitCode: 0, signal: null, errorCode: err.code };
    throw err;
  }
}
