import { DetbuildError } from '../errors.js';

/** The environment record could not be collected or is not valid (codes RECORD_*). */
export class RecordError extends DetbuildError {}
