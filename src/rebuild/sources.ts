/** Do the sources given to a rebuild hash to the recorded source hash? Checked before any build. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SpecError } from '../engine/errors.js';
import { hashTree, walkTree } from '../engine/sources.js';
import { describeError } from '../errors.js';
import { sourcePackageHash } from '../recipes/dpkg.js';
import { RecipeError } from '../recipes/errors.js';
import { RebuildError } from './errors.js';
import type { BuildDescription } from './statement.js';

/** The hash a build of `sourcesDir` records, for the recipe's kind. */
export async function sourcesHash(build: BuildDescription, sourcesDir: string): Promise<string> {
  const st = await fs.stat(sourcesDir).catch(() => null);
  if (!st?.isDirectory()) throw new RebuildError('REBUILD_SOURCES', `the sources are not a directory: ${sourcesDir}`);
  try {
    if (build.recipe.kind === 'dpkg') {
      if (!build.recipe.dsc) throw new RebuildError('REBUILD_INPUT', 'the recorded dpkg recipe names no .dsc');
      return await sourcePackageHash(path.join(sourcesDir, build.recipe.dsc));
    }
    return await hashTree(sourcesDir, await walkTree(sourcesDir));
  } catch (err) {
    if (err instanceof RebuildError) throw err;
    if (err instanceof RecipeError || err instanceof SpecError) throw new RebuildError('REBUILD_SOURCES', `the sources cannot be what was built: ${describeError(err)}`, { cause: err });
    throw err;
  }
}

/** Throws REBUILD_SOURCES unless the sources hash to the recorded hash. */
export async function checkSources(build: BuildDescription, sourcesDir: string): Promise<string> {
  const hash = await sourcesHash(build, sourcesDir);
  if (hash !== build.sourceHash) {
    const what = build.recipe.kind === 'dpkg' ? `${build.recipe.dsc} and its files` : sourcesDir;
    throw new RebuildError('REBUILD_SOURCES', `the sources do not match the record: ${what} hash to ${hash.slice(0, 16)}…, the build recorded ${build.sourceHash.slice(0, 16)}…`);
  }
  return hash;
}
