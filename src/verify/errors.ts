import { DetbuildError } from '../errors.js';

/** Errors of `detbuild verify`: preparing its two runs, running them, publishing the results. */
export class VerifyError extends DetbuildError {}
