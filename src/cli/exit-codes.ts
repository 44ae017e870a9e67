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
  /** detbuild rebuild: an artifact differs from the statement (BAD) */
  rebuildBad: 13,
  /** detbuild rebuild: refused, the builder's environment is not the recorded one (UNVERIFIABLE) */
  rebuildUnverifiable: 14,
  /** detbuild rebuild: the sources do not hash to the recorded source hash */
  sourcesMismatch: 15,
  /** detbuild agree: fewer than M independent rebuilders attest the same artifacts */
  noAgreement: 16,
  /** detbuild rebuild --sign: the rebuild was GOOD but could not be signed */
  signFailed: 17,
} as const;

export class UsageError extends Error {}
