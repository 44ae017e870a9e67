/**
 * DETBUILD_STATS_FILE=PATH (benchmarks only): each build appends one JSON line
 * to PATH with its status, the supervisor's counters (stops per kind) and the
 * time of each stage, so that a benchmark driving the CLI (`detbuild deb`, the
 * template) sees what one calling runBuild() sees in its result.
 */
import { promises as fs } from 'node:fs';
import type { StageTimings } from './timings.js';

export interface StatsLine {
  command: string;
  mode: string;
  status: string;
  durationMs: number;
  stats: Record<string, number> | null;
  timings: StageTimings | null;
}

export async function appendStatsLine(line: StatsLine): Promise<void> {
  const file = process.env.DETBUILD_STATS_FILE;
  if (!file) return;
  // a benchmark's aid: a write that fails must not fail the build
  await fs.appendFile(file, `${JSON.stringify(line)}\n`).catch(() => undefined);
}
