/** Exit statuses of the `detbuild` command; 125-127 stay free for qrexec. */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  badInput: 3,
  buildFailed: 4,
  timeout: 5,
  outputLimit: 6,
  engine: 7,
  cancelled: 8,
  /** detbuild verify: the two builds differ (the same code as `detbuild remote --verify`) */
  notReproducible: 9,
  // 10-12 are detbuild remote's (src/protocol/status.ts): transport, policy, integrity
  /** a limit of the sandbox (processes, memory, disk, /tmp, /dev/shm): a build status, the wire's too */
  limit: 13,
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
