/**
 * The one outcome policy: what a thrown error or a build's result means as a status (the
 * wire's, src/protocol/status.ts) and as an exit code, for the CLI, the qrexec service,
 * the daemon and the client. An error declares its kind (src/errors.ts); this maps it:
 *
 *   kind        status            exit
 *   bad-input   rejected           3
 *   failure     error              7
 *   integrity   integrity-error   12
 *   (untyped)   error              1 (EXIT_INTERNAL: a bug; the wire says 7)
 *
 * A build's result maps by its status, an engine 'error' caused by the request being
 * 'rejected'; a status maps to its exit code by the wire's table (ExitCode).
 */
import { DetbuildError, describeError, errorKind, type ErrorKind } from './errors.js';
import type { BuildResult } from './engine/types.js';
import type { FinalStatus } from './protocol/messages.js';
import { EXIT_INTERNAL, ExitCode, type OverallStatus, type RemoteStatus } from './protocol/status.js';

const STATUS_OF_KIND = {
  'bad-input': 'rejected',
  failure: 'error',
  integrity: 'integrity-error',
} as const satisfies Record<ErrorKind, OverallStatus>;

/** The exit code of a final status: the wire's table, the same for every command and the service. */
export function exitCodeOf(status: OverallStatus): number {
  return ExitCode[status];
}

export function statusOfError(err: unknown): OverallStatus {
  return STATUS_OF_KIND[errorKind(err)];
}

/** A typed error's exit code by its kind; anything else is an internal error (EXIT_INTERNAL). */
export function exitCodeOfError(err: unknown): number {
  return err instanceof DetbuildError ? exitCodeOf(statusOfError(err)) : EXIT_INTERNAL;
}

/** A build's result as a final status: an engine 'error' the request caused is 'rejected'. */
export function statusOfResult(r: Pick<BuildResult, 'status' | 'badInput'>): RemoteStatus {
  return r.status === 'error' && r.badInput ? 'rejected' : r.status;
}

export function exitCodeOfResult(r: Pick<BuildResult, 'status' | 'badInput'>): number {
  return exitCodeOf(statusOfResult(r));
}

/** The one final status frame of a response (the builder's verdict, with its exit code). */
export function finalStatus(status: RemoteStatus, message: string, build: FinalStatus['build'] = null): FinalStatus {
  return { status, ok: status === 'success', message, exitCode: exitCodeOf(status), build };
}

/** The engine's result as a final status. */
export function finalStatusOfResult(id: string, r: BuildResult): FinalStatus {
  return finalStatus(statusOfResult(r), r.message, { id, exitCode: r.exitCode, signal: r.signal, durationMs: r.durationMs });
}

/** What the builder reports when a request ends in a thrown error: refused, or its own failure. */
export function finalStatusOfError(err: unknown): FinalStatus {
  return statusOfError(err) === 'rejected'
    ? finalStatus('rejected', `request refused: ${describeError(err)}`)
    : finalStatus('error', `the builder failed: ${describeError(err)}`);
}
