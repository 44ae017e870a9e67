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
  /** a limit of the sandbox (processes, memory, disk, /tmp, /dev/shm); 9-12 are the remote client's */
  limit: 13,
} as const;

export class UsageError extends Error {}
