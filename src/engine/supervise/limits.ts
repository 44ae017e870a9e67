/**
 * The sandbox's own limits (processes, memory, disk, /tmp, /dev/shm): their
 * defaults, the supervisor's options that enforce them, the disk watch the
 * engine runs beside the build, and the result a limit gives.
 */
import { promises as fs } from 'node:fs';
import { totalmem } from 'node:os';
import path from 'node:path';
import type { BuildLimits, SandboxLimitName } from '../types.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

export type SandboxLimits = Required<Pick<BuildLimits, 'maxProcesses' | 'maxMemoryBytes' | 'maxDiskBytes' | 'maxTmpBytes' | 'maxShmBytes'>>;

/** Defaults: generous for real builds, far below what would take the machine down. */
export const SANDBOX_LIMIT_DEFAULTS: SandboxLimits = {
  maxProcesses: 2048,
  // three quarters of the machine's memory, in whole MiB
  maxMemoryBytes: Math.floor((totalmem() * 0.75) / MiB) * MiB,
  maxDiskBytes: 32 * GiB,
  maxTmpBytes: 8 * GiB,
  maxShmBytes: 1 * GiB,
};

export function sandboxLimits(limits: BuildLimits): SandboxLimits {
  return {
    maxProcesses: limits.maxProcesses ?? SANDBOX_LIMIT_DEFAULTS.maxProcesses,
    maxMemoryBytes: limits.maxMemoryBytes ?? SANDBOX_LIMIT_DEFAULTS.maxMemoryBytes,
    maxDiskBytes: limits.maxDiskBytes ?? SANDBOX_LIMIT_DEFAULTS.maxDiskBytes,
    maxTmpBytes: limits.maxTmpBytes ?? SANDBOX_LIMIT_DEFAULTS.maxTmpBytes,
    maxShmBytes: limits.maxShmBytes ?? SANDBOX_LIMIT_DEFAULTS.maxShmBytes,
  };
}

/** The tmpfs mounts the supervisor watches, and the limit each one's filling is. */
export const WATCHED_TMPFS: ReadonlyArray<[string, SandboxLimitName]> = [
  ['/tmp', 'tmp'],
  ['/dev/shm', 'shm'],
];

/** The supervisor's options enforcing processes and memory, and watching the tmpfs mounts. */
export function supervisorLimitArgs(l: SandboxLimits): string[] {
  return [
    '--max-procs', String(l.maxProcesses),
    '--max-memory', String(l.maxMemoryBytes),
    ...WATCHED_TMPFS.flatMap(([dir]) => ['--watch-fs', dir]),
  ];
}

/** What the supervisor's status says about limits. */
export interface LimitReport {
  limit?: string;
  limitValue?: number;
  limitMax?: number;
  fullFs?: string[];
}

export interface LimitVerdict {
  limit: SandboxLimitName;
  message: string;
}

export function limitMessage(limit: SandboxLimitName, l: SandboxLimits, value?: number): string {
  switch (limit) {
    case 'processes':
      return `the build exceeded its limit of ${l.maxProcesses} processes and threads and was killed`;
    case 'memory':
      return `the build exceeded its memory limit of ${l.maxMemoryBytes} bytes${value ? ` (it held ${value})` : ''} and was killed`;
    case 'disk':
      return `the build exceeded its disk limit of ${l.maxDiskBytes} bytes in /build/src, /build/home and $DETBUILD_OUT${value ? ` (it used ${value})` : ''} and was killed`;
    case 'tmp':
      return `the build failed with its /tmp full (its limit of ${l.maxTmpBytes} bytes)`;
    case 'shm':
      return `the build failed with its /dev/shm full (its limit of ${l.maxShmBytes} bytes)`;
  }
}

/**
 * The limit a finished build hit, from the supervisor's report: one it was
 * killed for, else (when the build failed) a tmpfs it filled.
 */
export function limitFromReport(report: LimitReport | null, failed: boolean, l: SandboxLimits): LimitVerdict | null {
  if (!report) return null;
  if (report.limit === 'processes' || report.limit === 'memory') {
    return { limit: report.limit, message: limitMessage(report.limit, l, report.limitValue) };
  }
  if (failed) {
    for (const [dir, limit] of WATCHED_TMPFS) {
      if (report.fullFs?.includes(dir)) return { limit, message: limitMessage(limit, l) };
    }
  }
  return null;
}

/** Bytes allocated on disk under the given directories (what they take, sparse files included as they are). */
export async function diskUsage(dirs: string[]): Promise<number> {
  let bytes = 0;
  async function walk(d: string): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      try {
        const st = await fs.lstat(p);
        bytes += st.blocks * 512;
        if (st.isDirectory()) await walk(p);
      } catch {
        // removed meanwhile
      }
    }
  }
  for (const d of dirs) await walk(d);
  return bytes;
}

/**
 * Watches the disk the build writes beside it, spending at most a tenth of
 * the time on it: the next walk waits ten times as long as the last took
 * (at least `minIntervalMs`).
 */
export class DiskWatch {
  private busy = false;
  private nextAt = 0;
  constructor(
    private readonly dirs: string[],
    private readonly max: number,
    private readonly onOver: (bytes: number) => void,
    private readonly minIntervalMs = 1000,
  ) {}

  /** Called on every tick of the engine's watcher. */
  tick(): void {
    if (this.busy || Date.now() < this.nextAt) return;
    this.busy = true;
    const started = Date.now();
    diskUsage(this.dirs)
      .then((bytes) => {
        if (bytes > this.max) this.onOver(bytes);
      })
      .finally(() => {
        this.busy = false;
        this.nextAt = Date.now() + Math.max(this.minIntervalMs, 10 * (Date.now() - started));
      });
  }

  /** One last look, once the build has ended: the bytes, when over the limit. */
  async final(): Promise<number | null> {
    const bytes = await diskUsage(this.dirs);
    return bytes > this.max ? bytes : null;
  }
}
