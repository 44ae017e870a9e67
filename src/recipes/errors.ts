import { DetbuildError, type ErrorKind } from '../errors.js';

/**
 * Errors of the recipes: an input that cannot be turned into a build spec. Bad input
 * unless the thrower says 'failure': the request itself is wrong (missing or malformed
 * .dsc, missing or corrupt files), or the builder lacks something (a tool, a build
 * dependency).
 */
export class RecipeError extends DetbuildError {
  static override readonly kindOfClass: ErrorKind = 'bad-input';
}

/** The builder lacks build dependencies of the source package (`dpkg-checkbuilddeps` said so). */
export class MissingBuildDepsError extends RecipeError {
  /** the unmet build dependencies, as dpkg-checkbuilddeps names them (e.g. `debhelper-compat (= 13)`) */
  readonly missing: string[];
  /** installed packages the source declares Build-Conflicts with */
  readonly conflicts: string[];

  constructor(
    source: string,
    missing: string[],
    conflicts: string[],
    /** hint: what to do (default: apt-get build-dep); labels: how the two lists are named */
    options?: { cause?: unknown; hint?: string; labels?: { missing: string; conflicts: string } },
  ) {
    const parts = [];
    const labels = options?.labels ?? { missing: 'missing build dependencies', conflicts: 'conflicting packages installed' };
    if (missing.length) parts.push(`${labels.missing}: ${missing.join(', ')}`);
    if (conflicts.length) parts.push(`${labels.conflicts}: ${conflicts.join(', ')}`);
    super('BUILD_DEPS_UNMET', `${source}: ${parts.join('; ')} (${options?.hint ?? `install them in the builder, e.g. apt-get build-dep ${source}`})`, {
      cause: options?.cause,
      kind: 'failure',
    });
    this.missing = missing;
    this.conflicts = conflicts;
  }
}
