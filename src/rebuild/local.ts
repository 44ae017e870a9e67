/** Rebuilding on this machine: the recorded build prepared again by the same recipe, run by the engine. */
import path from 'node:path';
import { defaultSpecFor, type BuildSpec } from '../engine/index.js';
import { describeError } from '../errors.js';
import { buildLocally } from '../local/build.js';
import { localEnvironment } from '../local/environment.js';
import { makeRecord } from '../record/collect.js';
import type { EnvironmentRecord } from '../record/schema.js';
import { prepareDpkgBuild } from '../recipes/dpkg.js';
import { prepareRpmBuild } from '../recipes/rpm.js';
import { RebuildError } from './errors.js';
import type { RebuildRun, Rebuilder } from './rebuilder.js';
import type { BuildDescription } from './statement.js';

async function prepare(build: BuildDescription, sourcesDir: string): Promise<{ spec: BuildSpec; cleanup(): Promise<void> }> {
  const choices = { epoch: build.epoch, seed: build.seed, timeStepNs: BigInt(build.timeStepNs), mode: build.mode };
  try {
    if (build.recipe.kind === 'dpkg') {
      const prepared = await prepareDpkgBuild(path.join(sourcesDir, build.recipe.dsc ?? ''), { ...choices, nocheck: build.recipe.nocheck === true });
      return { spec: prepared.spec, cleanup: () => prepared.cleanup() };
    }
    if (build.recipe.kind === 'rpm') {
      const prepared = await prepareRpmBuild(path.join(sourcesDir, build.recipe.srpm ?? ''), { ...choices, nocheck: build.recipe.nocheck === true });
      return { spec: prepared.spec, cleanup: () => prepared.cleanup() };
    }
    const resolved = await defaultSpecFor(sourcesDir, { ...choices, command: build.command, env: build.recipe.env ?? {} });
    return { spec: resolved.spec, cleanup: async () => undefined };
  } catch (err) {
    throw new RebuildError('REBUILD_RECIPE', `cannot prepare the recorded build here: ${describeError(err)}`, { cause: err });
  }
}

export const localRebuilder: Rebuilder = {
  where: 'this machine',

  async environment(): Promise<EnvironmentRecord> {
    return makeRecord(await localEnvironment(), null);
  },

  async build(build, sourcesDir, outDir, opts): Promise<RebuildRun> {
    const { spec, cleanup } = await prepare(build, sourcesDir);
    try {
      if (spec.command !== build.command) {
        throw new RebuildError('REBUILD_RECIPE', `this detbuild's ${build.recipe.kind} recipe would run another command than the recorded build did`);
      }
      const r = await buildLocally(spec, {
        outDir,
        recipe: build.recipe,
        signal: opts.signal,
        onEvent: opts.onEvent
          ? (e) => {
              if (e.kind === 'end') return;
              // an engine warning (a workspace left behind) as a line of the log
              opts.onEvent!(e.kind === 'warning' ? { kind: 'log', stream: 'stderr', line: `[detbuild: ${e.message}]` } : e);
            }
          : undefined,
      });
      return { ok: r.ok, status: r.status, message: r.message, manifest: r.manifest, record: r.record, outDir: r.outDir, logPath: r.logPath };
    } finally {
      await cleanup();
    }
  },
};
