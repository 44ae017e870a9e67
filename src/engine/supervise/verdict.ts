/**
 * How a supervised build ended, as the fields of its result: killed by the engine
 * (kill.ts), never run (the supervisor reported nothing), past a limit the supervisor
 * enforces inside (processes, memory, a full /tmp or /dev/shm), or failed by its own exit
 * status or signal; null when it succeeded. The supervisor's status (fd 3) is one JSON
 * object: its counters, the build's exit, and what it saw of the limits.
 */
import type { BuildLimits, BuildStatus, SandboxLimitName } from '../types.js';
import { killMessage, type KillSwitch } from './kill.js';
import { limitFromReport, type LimitReport, type SandboxLimits } from './limits.js';

/** Counters the supervisor reports (how much it intervened); not part of the manifest. */
export type EngineStats = Record<string, number>;

export interface SupervisorStatus {
  stats: EngineStats | null;
  limits: LimitReport | null;
}

export function parseStatus(text: string): SupervisorStatus {
  try {
    if (!text.trim()) return { stats: null, limits: null };
    const { limit, limitValue, limitMax, fullFs, ...counters } = JSON.parse(text.trim()) as EngineStats & LimitReport;
    return { stats: counters as EngineStats, limits: { limit, limitValue, limitMax, fullFs } };
  } catch {
    return { stats: null, limits: null };
  }
}

export interface Ending {
  status: Exclude<BuildStatus, 'success'>;
  message: string;
  exitCode: number | null;
  signal: string | null;
  limit?: SandboxLimitName;
  /** the typed error's code, for output that cannot be published */
  errorCode?: string;
  stats: EngineStats | null;
}

export function verdict(
  kill: KillSwitch,
  exit: { code: number | null; signal: NodeJS.Signals | null },
  status: SupervisorStatus,
  limits: BuildLimits,
  sandbox: SandboxLimits,
): Ending | null {
  const { stats } = status;
  if (kill.reason) {
    return { status: kill.reason, message: killMessage(kill.reason, limits, sandbox, kill.diskBytes), exitCode: null, signal: null, stats, ...(kill.reason === 'limit' ? { limit: 'disk' as const } : {}) };
  }
  const exitCode = typeof exit.code === 'number' ? exit.code : null;
  if (stats === null) {
    return { status: 'error', message: `the engine did not run the build (exit status ${exitCode ?? exit.signal}); see the log`, exitCode, signal: null, stats };
  }
  const buildExit = stats.exitCode ?? exitCode;
  const buildSignal = stats.signal ? `signal ${stats.signal}` : null;
  const code = buildExit === -1 ? null : buildExit;
  const overLimit = limitFromReport(status.limits, buildExit !== 0 || !!buildSignal, sandbox);
  if (overLimit) return { status: 'limit', message: overLimit.message, limit: overLimit.limit, exitCode: code, signal: buildSignal, stats };
  if (buildExit !== 0 || buildSignal) {
    const why = buildSignal ? `was killed by ${buildSignal}` : `exited with status ${buildExit}`;
    return { status: 'failed', message: `the build command ${why}`, exitCode: code, signal: buildSignal, stats };
  }
  return null;
}
