import { DetbuildError, type ErrorKind } from '../errors.js';

/**
 * A rebuild that cannot go ahead (codes REBUILD_*): REBUILD_INPUT (the published
 * provenance or record is unreadable or inconsistent), REBUILD_SOURCES (the sources do not
 * hash to the recorded source hash), REBUILD_RECIPE (this builder cannot prepare the
 * recorded build the way it was prepared). Bad input: what was published or given is at fault.
 */
export class RebuildError extends DetbuildError {
  static override readonly kindOfClass: ErrorKind = 'bad-input';
}
