import { DetbuildError } from '../errors.js';

/** Failures of the qrexec service itself (SERVICE_*): no daemon, bad invocation. */
export class ServiceError extends DetbuildError {}
