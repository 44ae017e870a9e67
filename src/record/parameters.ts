/** A build spec's parameters as the record keeps them (the build half of a record). */
import type { BuildSpec } from '../engine/types.js';
import type { BuildParameters, RecipeRecord } from './schema.js';

export function buildParametersFor(spec: BuildSpec, sourceHash: string, recipe?: RecipeRecord): BuildParameters {
  return {
    mode: spec.mode,
    command: spec.command,
    epoch: spec.epoch,
    seed: spec.seed,
    timeStepNs: spec.timeStepNs.toString(),
    sourceHash,
    ...(spec.origin?.gitCommit ? { gitCommit: spec.origin.gitCommit } : {}),
    ...(recipe ? { recipe: tidyRecipe(recipe) } : {}),
  };
}

/** Leaves out what is empty, so that equal recipes give equal records. */
function tidyRecipe(r: RecipeRecord): RecipeRecord {
  return {
    kind: r.kind,
    ...(r.dsc !== undefined ? { dsc: r.dsc } : {}),
    ...(r.nocheck ? { nocheck: true } : {}),
    ...(r.env && Object.keys(r.env).length > 0 ? { env: r.env } : {}),
  };
}
