/**
 * A local build that leaves what a remote one leaves: the engine's result (artifacts/,
 * manifest.json, build.log) plus this machine's environment record as record.json,
 * environment.buildinfo and provenance.intoto.json, published together, atomically.
 */
import { runBuild, type BuildOutcome } from '../engine/index.js';
import type { BuildEvent, BuildSpec, Manifest } from '../engine/types.js';
import { makeRecord } from '../record/collect.js';
import { writeRecordFiles } from '../record/files.js';
import { buildParametersFor } from '../record/parameters.js';
import type { EnvironmentRecord, RecipeRecord } from '../record/schema.js';
import { localEnvironment } from './environment.js';

export interface LocalBuildOptions {
  outDir: string;
  /** what the sources are, for the record (default: a command build with the spec's env) */
  recipe?: RecipeRecord;
  signal?: AbortSignal;
  onEvent?: (e: BuildEvent) => void;
  cpu?: number;
}

export interface LocalBuildResult extends BuildOutcome {
  /** the record published with the result (null when the build did not succeed) */
  record: EnvironmentRecord | null;
}

export async function buildLocally(spec: BuildSpec, opts: LocalBuildOptions): Promise<LocalBuildResult> {
  const recipe: RecipeRecord = opts.recipe ?? { kind: 'command', env: spec.env };
  // collected while the build runs; only a successful build waits for it
  const environment = localEnvironment();
  environment.catch(() => undefined);
  let record: EnvironmentRecord | null = null;
  const result = await runBuild(spec, {
    outDir: opts.outDir,
    signal: opts.signal,
    onEvent: opts.onEvent,
    cpu: opts.cpu,
    beforePublish: async (dir: string, manifest: Manifest) => {
      record = makeRecord(await environment, buildParametersFor(spec, manifest.sourceHash, recipe));
      await writeRecordFiles(dir, record, manifest);
    },
  });
  return { ...result, record: result.ok ? record : null };
}
