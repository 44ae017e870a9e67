import { DetbuildError } from '../../errors.js';

/**
 * Errors of the builder-template recipe (codes TEMPLATE_*): a bad lock file, an
 * archive that no longer serves a pinned version, a download that is not what
 * the lock pins.
 */
export class TemplateError extends DetbuildError {
  /** the packages concerned, `name=version` (for TEMPLATE_VERSION_UNAVAILABLE and TEMPLATE_DEB_MISMATCH) */
  readonly packages: string[];

  constructor(code: string, message: string, options?: { cause?: unknown; packages?: string[] }) {
    super(code, message, options);
    this.packages = options?.packages ?? [];
  }
}
