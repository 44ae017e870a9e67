import { DetbuildError } from '../errors.js';

/** Failures of the client (CLIENT_*): bad sources or output directory, a broken transport. */
export class ClientError extends DetbuildError {}
