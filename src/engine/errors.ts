import { DetbuildError, type ErrorKind } from '../errors.js';

/** Errors of the engine: bad specs, missing facilities, I/O failures around a build. */
export class EngineError extends DetbuildError {}

/** The request itself is wrong (missing source directory, non-empty output directory, bad values). */
export class SpecError extends EngineError {
  static override readonly kindOfClass: ErrorKind = 'bad-input';
}
