/** Rebuilding in a builder qube: the recorded build as a qubes.DetBuild recipe, through runRemote. */
import type { Recipe } from '../protocol/messages.js';
import type { EnvironmentRecord } from '../record/schema.js';
import type { RebuildRun, Rebuilder } from '../rebuild/rebuilder.js';
import type { BuildDescription } from '../rebuild/statement.js';
import type { OverallStatus } from '../protocol/status.js';
import { ClientError } from './errors.js';
import { runRemote } from './remote.js';

/** The builder's record could not be read: the remote call's status says why. */
export class RemoteInfoError extends ClientError {
  constructor(
    readonly status: OverallStatus,
    message: string,
  ) {
    super('CLIENT_INFO', message);
  }
}

/** The recipe that makes a builder repeat a recorded build exactly. */
export function recipeFor(build: BuildDescription): Recipe {
  const common: Recipe = { epoch: build.epoch, seed: build.seed, timeStepNs: Number(build.timeStepNs), mode: build.mode };
  if (build.recipe.kind === 'rpm') return { ...common, kind: 'rpm', srpm: build.recipe.srpm, ...(build.recipe.nocheck ? { nocheck: true } : {}) };
  if (build.recipe.kind === 'dpkg') return { ...common, kind: 'dpkg', dsc: build.recipe.dsc, ...(build.recipe.nocheck ? { nocheck: true } : {}) };
  return { ...common, command: build.command, ...(build.recipe.env && Object.keys(build.recipe.env).length > 0 ? { env: build.recipe.env } : {}) };
}

export function remoteRebuilder(target: string, qrexecClient?: string): Rebuilder {
  return {
    where: `qube ${target}`,

    async environment(signal?: AbortSignal): Promise<EnvironmentRecord> {
      const r = await runRemote({ mode: 'info', target, qrexecClient, signal });
      if (!r.ok || !r.record) throw new RemoteInfoError(r.status, `cannot read the environment record of ${target}: ${r.status}: ${r.message}`);
      return r.record;
    },

    async build(build: BuildDescription, sourcesDir: string, outDir: string, opts): Promise<RebuildRun> {
      const r = await runRemote({
        mode: 'build',
        target,
        qrexecClient,
        sourceDir: sourcesDir,
        outDir,
        recipe: recipeFor(build),
        signal: opts.signal,
        onEvent: opts.onEvent ? (e) => opts.onEvent!(e.kind === 'stage' ? { kind: 'stage', stage: e.stage, message: e.message } : { kind: 'log', stream: e.stream, line: e.line }) : undefined,
      });
      return { ok: r.ok, status: r.status, message: r.message, manifest: r.manifest, record: r.record, outDir: r.outDir, logPath: r.logPath };
    },
  };
}
