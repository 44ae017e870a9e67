/**
 * Exit statuses of the `detbuild` command; 125-127 stay free for qrexec. A build's
 * statuses have the codes the wire gives them (src/protocol/status.ts, the one table
 * shared with the service, the daemon and the client), so `detbuild build` and
 * `detbuild remote` exit alike; the codes above 13 are the CLI's own commands'.
 */
import { EXIT_INTERNAL, ExitCode } from '../protocol/status.js';

export const EXIT = {
  ok: ExitCode.success,
  internal: EXIT_INTERNAL,
  usage: ExitCode.usage,
  badInput: ExitCode.rejected,
  buildFailed: ExitCode.failed,
  timeout: ExitCode.timeout,
  outputLimit: ExitCode['output-limit'],
  engine: ExitCode.error,
  cancelled: ExitCode.cancelled,
  /** detbuild verify: the two builds differ (the same code as `detbuild remote --verify`) */
  notReproducible: ExitCode['not-reproducible'],
  // 10-12 are detbuild remote's: transport, policy, integrity
  /** a limit of the sandbox (processes, memory, disk, /tmp, /dev/shm) */
  limit: ExitCode.limit,
  /** detbuild rebuild: an artifact differs from the statement (BAD) */
  rebuildBad: 14,
  /** detbuild rebuild: refused, the builder's environment is not the recorded one (UNVERIFIABLE) */
  rebuildUnverifiable: 15,
  /** detbuild rebuild: the sources do not hash to the recorded source hash */
  sourcesMismatch: 16,
  /** detbuild agree: fewer than M independent rebuilders attest the same artifacts */
  noAgreement: 17,
  /** detbuild rebuild --sign: the rebuild was GOOD but could not be signed */
  signFailed: 18,
} as const;

export class UsageError extends Error {}
