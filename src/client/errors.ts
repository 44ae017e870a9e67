import { DetbuildError, type ErrorKind } from '../errors.js';

/**
 * Failures of the client (CLIENT_*): bad sources or output directory (bad input), an
 * artifact that does not match its manifest (CLIENT_INTEGRITY, kind 'integrity').
 */
export class ClientError extends DetbuildError {
  static override readonly kindOfClass: ErrorKind = 'bad-input';
}
