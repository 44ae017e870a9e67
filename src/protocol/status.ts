/**
 * Final statuses and exit codes, shared by the qrexec service and the client.
 *
 * qrexec reserves 125 (cannot execute), 126 (refused by policy) and 127 (service not
 * found) for itself, so every code here stays well below them.
 */

/** Statuses a final status frame can carry (the builder's verdict). */
export const REMOTE_STATUSES = [
  'success',
  /** the build command exited non-zero or was killed by a signal of its own, or left output that cannot be published */
  'failed',
  /** killed after its time limit, with its whole process tree */
  'timeout',
  /** killed because its artifacts or its log exceeded the limits */
  'output-limit',
  /** killed past a limit of the sandbox: processes, memory, disk, /tmp or /dev/shm */
  'limit',
  /** verify mode: the two builds differ */
  'not-reproducible',
  /** the build was cancelled (the caller went away or stopped reading its response, or Cancel over D-Bus) */
  'cancelled',
  /** the builder could not run the build (engine or daemon failure, daemon unavailable) */
  'error',
  /** the request was refused: unknown mode, malformed or hostile input, limits exceeded */
  'rejected',
] as const;
export type RemoteStatus = (typeof REMOTE_STATUSES)[number];

/** Statuses only the client can reach (nothing, or nothing usable, came back). */
export type ClientStatus =
  /** qrexec refused the call (policy) or the target has no such service */
  | 'policy-denied'
  /** the stream broke: qrexec failed, the stream ended early or was malformed */
  | 'transport-error'
  /** an artifact did not match its manifest */
  | 'integrity-error'
  /** bad command line */
  | 'usage';

export type OverallStatus = RemoteStatus | ClientStatus;

/**
 * Exit codes of the qrexec service and of `detbuild remote`. The statuses both the local
 * and the remote build know share the local CLI's codes (src/cli/exit-codes.ts), so a
 * script can treat `detbuild build` and `detbuild remote` alike.
 */
export const ExitCode = {
  success: 0,
  usage: 2,
  rejected: 3,
  failed: 4,
  timeout: 5,
  'output-limit': 6,
  error: 7,
  cancelled: 8,
  'not-reproducible': 9,
  'transport-error': 10,
  'policy-denied': 11,
  'integrity-error': 12,
  limit: 13,
} as const satisfies Record<OverallStatus, number>;

/** Exit code for an internal error of the client or the service itself (a bug). Mapping: src/outcome.ts. */
export const EXIT_INTERNAL = 1;

/** qrexec's own exit codes, as `qrexec-client-vm` reports them. */
export const QrexecExit = {
  cannotExecute: 125,
  refused: 126,
  serviceNotFound: 127,
} as const;
