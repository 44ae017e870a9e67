import { DetbuildError } from '../errors.js';

/**
 * Errors of detbuildd. Codes starting with REQUEST_ mean the caller's request was refused
 * (hostile or malformed input, limits); the others are the daemon's own failures.
 */
export class DaemonError extends DetbuildError {
  /** true when the caller's request is at fault (reported as status 'rejected') */
  get isRejection(): boolean {
    return this.code.startsWith('REQUEST_');
  }
}
