/** The one result shape of runBuild for success and every failure (execa's way: the caller never guesses). */
import { DetbuildError, describeError, errorKind } from '../errors.js';
import type { BuildResult, BuildStatus } from './types.js';
import type { EngineStats } from './supervise/verdict.js';
import type { StageTimings } from './timings.js';

export type { EngineStats } from './supervise/verdict.js';

export interface BuildOutcome extends BuildResult {
  stats: EngineStats | null;
  /** milliseconds per stage of runBuild() (timings.ts); not part of the manifest */
  timings: StageTimings | null;
}

export function buildResult(partial: Partial<BuildOutcome> & { status: BuildStatus; message: string; durationMs: number }): BuildOutcome {
  return {
    ok: partial.status === 'success',
    exitCode: null,
    signal: null,
    outDir: null,
    manifest: null,
    logPath: null,
    stats: null,
    timings: null,
    ...partial,
  };
}

/** A build the engine could not run: its error's code, and whether the request was at fault. */
export function errorResult(err: unknown, durationMs: number): BuildOutcome {
  return buildResult({
    status: 'error',
    message: describeError(err),
    durationMs,
    errorCode: err instanceof DetbuildError ? err.code : 'ENGINE_INTERNAL',
    badInput: errorKind(err) === 'bad-input',
  });
}
