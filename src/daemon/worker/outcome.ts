/** Turning what happened into the one final status frame (and the service's exit code). */
import { describeError } from '../../errors.js';
import { SpecError } from '../../engine/errors.js';
import type { BuildResult } from '../../engine/types.js';
import { ProtocolError } from '../../protocol/errors.js';
import type { FinalStatus } from '../../protocol/messages.js';
import { exitCodeFor, type RemoteStatus } from '../../protocol/status.js';
import { DaemonError } from '../errors.js';

export function finalStatus(status: RemoteStatus, message: string, build: FinalStatus['build'] = null): FinalStatus {
  return { status, ok: status === 'success', message, exitCode: exitCodeFor(status), build };
}

/** The engine's result as a final status (an engine 'error' caused by the request is 'rejected'). */
export function statusFromResult(id: string, r: BuildResult): FinalStatus {
  const status: RemoteStatus = r.status === 'error' && r.badInput ? 'rejected' : r.status;
  return finalStatus(status, r.message, { id, exitCode: r.exitCode, signal: r.signal, durationMs: r.durationMs });
}

/** True for errors that mean "the caller's request is at fault". */
export function isRejection(err: unknown): boolean {
  return err instanceof ProtocolError || err instanceof SpecError || (err instanceof DaemonError && err.isRejection);
}

export function statusFromError(err: unknown): FinalStatus {
  return isRejection(err)
    ? finalStatus('rejected', `request refused: ${describeError(err)}`)
    : finalStatus('error', `the builder failed: ${describeError(err)}`);
}
