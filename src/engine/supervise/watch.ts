/**
 * The limits the engine enforces from outside while the build runs: its time (a timer),
 * its output (measured every second), the disk it uses beside it (DiskWatch, at most a
 * tenth of the time), and the caller's cancel. Each ends the build through the kill
 * switch. Once the build has ended, one last look at its output and its disk.
 */
import { measureTree } from '../collect.js';
import type { BuildLimits } from '../types.js';
import type { KillSwitch } from './kill.js';
import { DiskWatch, type SandboxLimits } from './limits.js';

export interface Watched {
  /** the build's directories on the host: what it may fill (src, home, out) and its output */
  dirs: string[];
  out: string;
}

export interface Watch {
  /** stops the timer, the periodic checks and the cancel listener */
  stop(): void;
  /** the last look, after the end: output over its limit, else the disk */
  final(): Promise<void>;
}

export function watchBuild(where: Watched, limits: BuildLimits, sandbox: SandboxLimits, kill: KillSwitch, signal?: AbortSignal): Watch {
  const overOutput = (m: { bytes: number; files: number }): boolean => m.bytes > limits.maxOutputBytes || m.files > limits.maxOutputFiles;
  const disk = new DiskWatch(where.dirs, sandbox.maxDiskBytes, (bytes) => {
    kill.diskBytes = bytes;
    kill.kill('limit');
  });
  const timer = setTimeout(() => kill.kill('timeout'), limits.timeoutMs);
  let measuring = false;
  const ticker = setInterval(() => {
    disk.tick();
    if (measuring) return;
    measuring = true;
    measureTree(where.out)
      .then((m) => {
        if (overOutput(m)) kill.kill('output-limit');
      })
      .finally(() => {
        measuring = false;
      });
  }, 1000);
  const onAbort = (): void => kill.kill('cancelled');
  signal?.addEventListener('abort', onAbort);
  if (signal?.aborted) onAbort();
  return {
    stop() {
      clearTimeout(timer);
      clearInterval(ticker);
      signal?.removeEventListener('abort', onAbort);
    },
    async final() {
      if (kill.reason) return;
      if (overOutput(await measureTree(where.out))) return kill.note('output-limit');
      const over = await disk.final();
      if (over !== null) {
        kill.diskBytes = over;
        kill.note('limit');
      }
    },
  };
}
