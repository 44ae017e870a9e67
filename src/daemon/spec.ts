/**
 * Recipe -> BuildSpec, through the engine's own defaultSpecFor: a remote build resolves
 * its defaults exactly like `detbuild build` does. The daemon only adds its limits.
 */
import { defaultSpecFor, type ResolvedSpec } from '../engine/index.js';
import type { BuildLimits } from '../engine/types.js';
import type { Recipe } from '../protocol/messages.js';
import type { DaemonConfig } from './config.js';
import { DaemonError } from './errors.js';

/** The recipe's limits over the daemon's defaults; asking for more than the maximum is refused. */
export function effectiveLimits(recipe: Recipe, config: DaemonConfig): BuildLimits {
  const limits: BuildLimits = { ...config.defaultLimits };
  for (const key of Object.keys(config.maxLimits) as Array<keyof BuildLimits>) {
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

export async function specFromRecipe(recipe: Recipe, sourceDir: string, config: DaemonConfig): Promise<ResolvedSpec> {
  const limits = effectiveLimits(recipe, config);
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
