import type { DetbuildErrorOptions } from '../../errors.js';
import { RecipeError } from '../errors.js';

/**
 * Errors of the builder-template recipe (codes TEMPLATE_*): a bad lock file, an
 * archive that no longer serves a pinned version (bad input, like every recipe's);
 * apt or a download that fails, or is not what the lock pins (kind 'failure').
 */
export class TemplateError extends RecipeError {
  /** the packages concerned, `name=version` (for TEMPLATE_VERSION_UNAVAILABLE and TEMPLATE_DEB_MISMATCH) */
  readonly packages: string[];

  constructor(code: string, message: string, options?: DetbuildErrorOptions & { packages?: string[] }) {
    super(code, message, options);
    this.packages = options?.packages ?? [];
  }
}
