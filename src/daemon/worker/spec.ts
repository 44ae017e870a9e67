/**
 * Recipe -> BuildSpec, through the engine's own defaultSpecFor: a remote build resolves
 * its defaults exactly like `detbuild build` does. The daemon only adds its limits.
 */
import { dirname, join } from 'node:path';
import type { Logger } from 'winston';
import { defaultSpecFor, type BuildEvent, type ResolvedSpec, type runBuild as RunBuild } from '../../engine/index.js';
import { prepareDpkgBuild } from '../../recipes/dpkg.js';
import { prepareRpmBuild, type RpmBuild, type RpmChoices } from '../../recipes/rpm.js';
import { prepareRpmSpecBuild } from '../../recipes/rpm-spec.js';
import { MissingBuildDepsError, RecipeError } from '../../recipes/errors.js';
import type { BuildLimits } from '../../engine/types.js';
import type { Recipe } from '../../protocol/messages.js';
import type { RecipeRecord } from '../../record/schema.js';
import type { DaemonConfig } from '../config.js';
import { RequestError } from '../errors.js';

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
      throw new RequestError('REQUEST_LIMIT', `limits.${key} ${asked} exceeds this builder's maximum of ${config.maxLimits[key]}`);
    }
    limits[key] = asked;
  }
  return limits;
}

/** What a recipe module is given of a recipe: the engine's choices, where it stages the package. */
function recipeChoices(recipe: Recipe, stageDir: string, limits: BuildLimits, logger?: Logger) {
  return {
    stageDir,
    epoch: recipe.epoch,
    seed: recipe.seed,
    timeStepNs: recipe.timeStepNs === undefined ? undefined : BigInt(recipe.timeStepNs),
    limits,
    mode: recipe.mode,
    nocheck: recipe.nocheck,
    logger,
  };
}

/** A recipe's error as the daemon reports it: the request refused when it is bad input, or when this builder lacks its build dependencies. */
function refusal(err: unknown): unknown {
  if (err instanceof MissingBuildDepsError) return new RequestError('REQUEST_BUILD_DEPS', `this builder cannot build it: ${err.message}`, { cause: err });
  if (err instanceof RecipeError && err.kind === 'bad-input') return new RequestError('REQUEST_RECIPE', err.message, { cause: err });
  return err;
}

/**
 * kind 'dpkg': the same recipe module as `detbuild deb`. The source package is
 * staged beside the received sources (in the job's workspace, removed with it).
 */
async function dpkgSpec(recipe: Recipe, sourceDir: string, limits: BuildLimits, logger?: Logger): Promise<ResolvedSpec> {
  if (!recipe.dsc) throw new RequestError('REQUEST_RECIPE', "a 'dpkg' recipe names its .dsc (field dsc)");
  if (recipe.command !== undefined || recipe.env !== undefined || recipe.srpm !== undefined || recipe.spec !== undefined) {
    throw new RequestError('REQUEST_RECIPE', "a 'dpkg' recipe takes no command, env, srpm or spec");
  }
  try {
    const prepared = await prepareDpkgBuild(join(sourceDir, recipe.dsc), { ...recipeChoices(recipe, join(dirname(sourceDir), 'dpkg-src'), limits, logger), withSource: recipe.withSource });
    return { spec: prepared.spec, sourceHash: prepared.sourceHash };
  } catch (err) {
    throw refusal(err);
  }
}

/** How a recipe that builds in two phases (rpm with a spec: the .src.rpm first) runs its first phase. */
export interface PhaseRunner {
  runBuild: typeof RunBuild;
  onEvent?: (e: BuildEvent) => void;
  signal?: AbortSignal;
}

/**
 * kind 'rpm': the same recipe modules as `detbuild rpm`. A .src.rpm is staged beside the
 * received sources; a spec is first made into a .src.rpm under the engine (with `phase`,
 * its log streamed like the build's), in the job's workspace too.
 */
async function rpmSpec(recipe: Recipe, sourceDir: string, limits: BuildLimits, logger?: Logger, phase?: PhaseRunner): Promise<ResolvedSpec> {
  if ((recipe.srpm === undefined) === (recipe.spec === undefined)) throw new RequestError('REQUEST_RECIPE', "an 'rpm' recipe names either its .src.rpm (field srpm) or its spec (field spec)");
  if (recipe.command !== undefined || recipe.env !== undefined || recipe.dsc !== undefined || recipe.withSource !== undefined) {
    throw new RequestError('REQUEST_RECIPE', "an 'rpm' recipe takes no command, env, dsc or withSource");
  }
  const choices: RpmChoices = recipeChoices(recipe, join(dirname(sourceDir), 'rpm-src'), limits, logger);
  let prepared: RpmBuild;
  try {
    if (recipe.srpm !== undefined) {
      prepared = await prepareRpmBuild(join(sourceDir, recipe.srpm), choices);
    } else {
      if (!phase) throw new RequestError('REQUEST_RECIPE', 'this daemon cannot run the first phase of a spec build');
      const run = phase.runBuild;
      prepared = await prepareRpmSpecBuild(recipe.spec!, sourceDir, choices, (spec, outDir) => run(spec, { outDir, onEvent: phase.onEvent, signal: phase.signal }));
    }
  } catch (err) {
    throw refusal(err);
  }
  // the staged package lives in the job's workspace and goes with it
  return { spec: prepared.spec, sourceHash: prepared.sourceHash };
}

export async function specFromRecipe(recipe: Recipe, sourceDir: string, config: DaemonConfig, logger?: Logger, phase?: PhaseRunner): Promise<ResolvedSpec> {
  const limits = effectiveLimits(recipe, config);
  if (recipe.kind === 'dpkg') return dpkgSpec(recipe, sourceDir, limits, logger);
  if (recipe.kind === 'rpm') return rpmSpec(recipe, sourceDir, limits, logger, phase);
  if (recipe.dsc !== undefined || recipe.nocheck !== undefined) throw new RequestError('REQUEST_RECIPE', "dsc and nocheck belong to a 'dpkg' recipe (kind: 'dpkg'; nocheck also to 'rpm')");
  if (recipe.withSource !== undefined) throw new RequestError('REQUEST_RECIPE', "withSource belongs to a 'dpkg' recipe (kind: 'dpkg')");
  if (recipe.srpm !== undefined || recipe.spec !== undefined) throw new RequestError('REQUEST_RECIPE', "srpm and spec belong to an 'rpm' recipe (kind: 'rpm')");
  return defaultSpecFor(sourceDir, {
    command: recipe.command,
    epoch: recipe.epoch,
    origin: recipe.epoch === undefined ? undefined : recipe.origin,
    seed: recipe.seed,
    timeStepNs: recipe.timeStepNs === undefined ? undefined : BigInt(recipe.timeStepNs),
    env: recipe.env,
    limits,
    mode: recipe.mode,
  });
}

/** What the record keeps of a recipe: its kind and what prepares the sources (not its limits). */
export function recipeRecordOf(recipe: Recipe): RecipeRecord {
  if (recipe.kind === 'rpm') return { kind: 'rpm', ...(recipe.srpm ? { srpm: recipe.srpm } : {}), ...(recipe.nocheck ? { nocheck: true } : {}) };
  if (recipe.kind === 'dpkg') return { kind: 'dpkg', ...(recipe.dsc ? { dsc: recipe.dsc } : {}), ...(recipe.nocheck ? { nocheck: true } : {}) };
  return { kind: 'command', ...(recipe.env ? { env: recipe.env } : {}) };
}
