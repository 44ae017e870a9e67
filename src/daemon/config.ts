/**
 * detbuildd's configuration: /etc/qubes-detbuild/detbuildd.json (optional, strict JSON),
 * then command-line flags. Every limit on untrusted requests is here.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { BuildLimitsSchema } from '../protocol/messages.js';
import { formatZodError } from '../protocol/reader.js';
import { DIFFOSCOPE_DEFAULTS } from '../record/diffoscope.js';
import { DaemonError } from './errors.js';

export const DEFAULT_CONFIG_PATH = '/etc/qubes-detbuild/detbuildd.json';

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;


/** The sandbox's own limits (src/engine/supervise/limits.ts); absent ones keep the engine's defaults. */
const SandboxLimitsSchema = z
  .object({
    maxProcesses: z.number().int().positive(),
    maxMemoryBytes: z.number().int().positive(),
    maxDiskBytes: z.number().int().positive(),
    maxTmpBytes: z.number().int().positive(),
    maxShmBytes: z.number().int().positive(),
  })
  .partial()
  .strict();

export const DaemonConfigSchema = z
  .object({
    /** where workspaces are made (systemd's StateDirectory) */
    workDir: z.string().default('/var/lib/detbuild'),
    /**
     * when the daemon runs as root: the unprivileged host user builds are started as (a name,
     * UID or UID:GID), never root. Run as any other user (the packaged detbuild), builds run as it.
     */
    buildUser: z.string().min(1).default('nobody'),
    /** largest source archive accepted, bytes */
    maxRequestBytes: z.number().int().positive().default(2 * GiB),
    /** most entries (files, directories, links) in a source archive */
    maxRequestFiles: z.number().int().positive().default(100_000),
    /** a request stream silent this long is abandoned (a caller killed mid-transfer) */
    requestIdleTimeoutMs: z.number().int().positive().default(60_000),
    /** a request not complete this long after its turn came is refused */
    requestDeadlineMs: z.number().int().positive().default(60 * 60_000),
    /** after requestRateGraceMs, a request must have averaged at least this many bytes per second */
    requestMinBytesPerSecond: z.number().int().positive().default(64 * 1024),
    requestRateGraceMs: z.number().int().nonnegative().default(30_000),
    /**
     * the caller must take each block of the response the daemon has buffered (about 5 MiB)
     * within this time, or it loses its build: a caller that stops reading but stays
     * connected would otherwise hold the builder
     */
    responseStallTimeoutMs: z.number().int().positive().default(60_000),
    /** how long a caller may take to hand over its streams once its turn comes */
    attachTimeoutMs: z.number().int().positive().default(30_000),
    /** most builds waiting at once; more are refused */
    maxQueue: z.number().int().positive().default(64),
    /** finished builds kept in the List() answer */
    keepFinished: z.number().int().nonnegative().default(50),
    /** extra time the engine gets past a build's timeout before the daemon aborts it */
    watchdogGraceMs: z.number().int().positive().default(60_000),
    /** limits applied when the recipe names none */
    defaultLimits: BuildLimitsSchema.default({
      timeoutMs: 60 * 60_000,
      maxOutputBytes: 4 * GiB,
      maxOutputFiles: 20_000,
      maxLogBytes: 64 * MiB,
    }),
    /** the most a recipe may ask for */
    maxLimits: BuildLimitsSchema.default({
      timeoutMs: 6 * 60 * 60_000,
      maxOutputBytes: 16 * GiB,
      maxOutputFiles: 100_000,
      maxLogBytes: 256 * MiB,
    }),
    /** processes, memory, disk, /tmp and /dev/shm of every build; a recipe cannot change them */
    sandboxLimits: SandboxLimitsSchema.default({}),
    diffoscope: z
      .object({
        command: z.string().default(DIFFOSCOPE_DEFAULTS.command),
        timeoutMs: z.number().int().positive().default(DIFFOSCOPE_DEFAULTS.timeoutMs),
        maxReportBytes: z.number().int().positive().default(DIFFOSCOPE_DEFAULTS.maxReportBytes),
      })
      .strict()
      .default({}),
    logLevel: z.enum(['error', 'warn', 'info', 'verbose', 'debug']).default('info'),
  })
  .strict();
export type DaemonConfig = z.infer<typeof DaemonConfigSchema>;

export function parseConfig(value: unknown, origin = 'configuration'): DaemonConfig {
  const r = DaemonConfigSchema.safeParse(value);
  if (!r.success) throw new DaemonError('DAEMON_CONFIG', `${origin}: ${formatZodError(r.error)}`);
  return r.data;
}

/** Reads a config file; a missing default file means defaults, a missing named file is an error. */
export async function loadConfig(path: string | undefined): Promise<DaemonConfig> {
  const file = path ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (path === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') return parseConfig({});
    throw new DaemonError('DAEMON_CONFIG', `cannot read ${file}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DaemonError('DAEMON_CONFIG', `${file}: not valid JSON`, { cause: err });
  }
  return parseConfig(json, file);
}
