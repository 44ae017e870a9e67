import { DetbuildError, type ErrorKind } from '../errors.js';

/** Errors of detbuildd (codes DAEMON_*): the daemon's own failures. */
export class DaemonError extends DetbuildError {}

/** The caller's request is refused (codes REQUEST_*): hostile or malformed input, limits. */
export class RequestError extends DaemonError {
  static override readonly kindOfClass: ErrorKind = 'bad-input';
}
