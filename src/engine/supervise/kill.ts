/**
 * Why the engine ends a build from outside, and what it then says: past its time, past
 * its output limit (bytes or files under $DETBUILD_OUT), past its disk limit, or
 * cancelled by the caller. The first reason given stands; the sandbox is torn down
 * whole (teardown.ts). Limits the supervisor enforces inside are its status (verdict.ts).
 */
import type { BuildLimits } from '../types.js';
import { limitMessage, type SandboxLimits } from './limits.js';

export type KillReason = 'timeout' | 'output-limit' | 'cancelled' | 'limit';

export class KillSwitch {
  reason: KillReason | null = null;
  /** the disk the build used when it was found over its disk limit */
  diskBytes = 0;

  constructor(private readonly sandbox: { kill(): void }) {}

  kill(why: KillReason): void {
    this.note(why);
    this.sandbox.kill();
  }

  /** A reason found once the build had already ended (its last output, its last disk use). */
  note(why: KillReason): void {
    if (!this.reason) this.reason = why;
  }
}

export function killMessage(reason: KillReason, limits: BuildLimits, sandbox: SandboxLimits, diskBytes: number): string {
  switch (reason) {
    case 'timeout':
      return `the build exceeded its time limit of ${limits.timeoutMs} ms and was killed`;
    case 'output-limit':
      return `the build exceeded its output limit (${limits.maxOutputBytes} bytes, ${limits.maxOutputFiles} files) and was killed`;
    case 'cancelled':
      return 'the build was cancelled';
    case 'limit':
      return limitMessage('disk', sandbox, diskBytes);
  }
}
