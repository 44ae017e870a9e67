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
} as const;

export class UsageError extends Error {}
