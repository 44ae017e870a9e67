/**
 * The epoch of a git work tree, resolved on the caller's side: the sources travel
 * without their VCS metadata, so the builder cannot read HEAD's committer date itself.
 * The same rule as a local build (src/engine/source-date.ts): an explicit epoch or
 * detbuild.json's wins, and the builder resolves every other case from the sources.
 */
import { readProjectFile } from '../engine/sources.js';
import { sourceDate } from '../engine/source-date.js';
import type { Recipe } from '../protocol/messages.js';

export async function withSourceDate(recipe: Recipe, sourceDir: string): Promise<Recipe> {
  if (recipe.kind === 'dpkg' || recipe.epoch !== undefined || recipe.origin !== undefined) return recipe;
  const pf = await readProjectFile(sourceDir);
  if (pf.epoch !== undefined) return recipe;
  const date = await sourceDate(sourceDir);
  if (date.from !== 'git') return recipe;
  return { ...recipe, epoch: date.epoch, origin: { epochFrom: 'git', ...(date.gitCommit ? { gitCommit: date.gitCommit } : {}) } };
}
