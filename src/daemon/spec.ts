/**
 * Recipe -> BuildSpec, through the engine's own defaultSpecFor: a remote build resolves
 * its defaults exactly like `detbuild build` does. The daemon only adds its limits.
 */
import { dirname, join } from 'node:path';
import type { Logger } from 'winston';
import { defaultSpecFor, type ResolvedSpec } from '../engine/index.js';
import { prepareDpkgBuild } from '../recipes/dpkg.js';
import { MissingBuildDepsError, RecipeError } from '../recipes/errors.js';
import type { BuildLimits } from '../engine/types.js';
import type { Recipe } from '../protocol/messages.js';
import type { DaemonConfig } from './config.js';
import { DaemonError } from './errors.js';

/** The recipe's limits over the daemon's defaults; asking for more than the maximum is refused. */
export function effectiveLimits(recipe: Recipe, config: DaemonConfig): BuildLimits {
  const limits: BuildLimits = { ...config.defaultLimits, ...config.sandboxLimits };
  for (const key of Object.keys(config.maxLimits) as Array<keyof DaemonConfig['maxLimits']>) {
    const asked = recipe.limits?.[key];
    if (asked === undefined) {
      limits[key] = Math.min(limits[key], config.maxLimits[key]);
      continue;
    }
    if (asked > config.maxLimits[key]) {
      throw new DaemonError('REQUEST_LIMIT', `limits.${key} ${asked} exceeds this builder's maximum of ${config.maxLimits[key]}`);
    }
    limits[key] = asked;
  }
  return limits;
}

/**
 * kind 'dpkg': the same recipe module as `detbuild deb`. The source package is
 * staged beside the received sources (in the job's workspace, removed with it).
 */
async function dpkgSpec(recipe: Recipe, sourceDir: string, limits: BuildLimits, logger?: Logger): Promise<ResolvedSpec> {
  if (!recipe.dsc) throw new DaemonError('REQUEST_RECIPE', "a 'dpkg' recipe names its .dsc (field dsc)");
  if (recipe.command !== undefined || recipe.env !== undefined) throw new DaemonError('REQUEST_RECIPE', "a 'dpkg' recipe takes no command and no env");
  try {
    const prepared = await prepareDpkgBuild(join(sourceDir, recipe.dsc), {
      stageDir: join(dirname(sourceDir), 'dpkg-src'),
      epoch: recipe.epoch,
      seed: recipe.seed,
      timeStepNs: recipe.timeStepNs === undefined ? undefined : BigInt(recipe.timeStepNs),
      limits,
      mode: recipe.mode,
      nocheck: recipe.nocheck,
      logger,
    });
    return { spec: prepared.spec, sourceHash: prepared.sourceHash };
  } catch (err) {
    if (err instanceof MissingBuildDepsError) throw new DaemonError('REQUEST_BUILD_DEPS', `this builder cannot build it: ${err.message}`, { cause: err });
    if (err instanceof RecipeError && err.badInput) throw new DaemonError('REQUEST_RECIPE', err.message, { cause: err });
    throw err;
  }
}

export async function specFromRecipe(recipe: Recipe, sourceDir: string, config: DaemonConfig, logger?: Logger): Promise<ResolvedSpec> {
  const limits = effectiveLimits(recipe, config);
  if (recipe.kind === 'dpkg') return dpkgSpec(recipe, sourceDir, limits, logger);
  if (recipe.dsc !== undefined || recipe.nocheck !== undefined) throw new DaemonError('REQUEST_RECIPE', "dsc and nocheck belong to a 'dpkg' recipe (kind: 'dpkg')");
  return defaultSpecFor(sourceDir, {
    command: recipe.command,
    epoch: recipe.epoch,
    seed: recipe.seed,
    timeStepNs: recipe.timeStepNs === undefined ? undefined : BigInt(recipe.timeStepNs),
    env: recipe.env,
    limits,
    mode: recipe.mode,
  });
}
