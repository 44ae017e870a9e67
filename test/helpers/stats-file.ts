/**
 * The supervisor's counters of the last build written to a DETBUILD_STATS_FILE
 * (src/engine/stats-file.ts: one JSON line per build).
 */
import { readFile } from 'node:fs/promises';

export async function lastBuildStats(file: string): Promise<Record<string, number>> {
  const last = (await readFile(file, 'utf8')).trim().split('\n').pop()!;
  return (JSON.parse(last) as { stats: Record<string, number> }).stats;
}
