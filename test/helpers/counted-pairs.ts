/**
 * What the engine's fixture tests of one mechanism share: the fixture built twice
 * under the engine (run a under NORMAL, run b under HOSTILE, b's environment
 * extended, e.g. to turn the mechanism off), each run's supervisor counters, and
 * the control: the same pair with --plain.
 */
import path from 'node:path';
import { expect } from 'vitest';
import { HOSTILE, NORMAL, describeRun, runPair, type PairRecord } from './conditions.js';
import { lastBuildStats } from './stats-file.js';
import { freshDir, removeUnlessKept } from './trees.js';

export interface CountedPairs {
  pair: PairRecord;
  plain: PairRecord;
  /** the counters of run a and of run b */
  statsA: Record<string, number>;
  statsB: Record<string, number>;
  /** removes what the runs left (unless kept for inspection) */
  remove(): Promise<void>;
}

export async function countedPairs(fixture: string, bEnv: Record<string, string> = {}): Promise<CountedPairs> {
  const scratch = await freshDir(path.basename(fixture));
  const fileA = path.join(scratch, 'a.jsonl');
  const fileB = path.join(scratch, 'b.jsonl');
  const pair = await runPair(
    { runner: 'engine', sourceDir: fixture },
    {
      a: { ...NORMAL, env: { DETBUILD_STATS_FILE: fileA } },
      b: { ...HOSTILE, env: { ...HOSTILE.env, ...bEnv, DETBUILD_STATS_FILE: fileB } },
    },
  );
  for (const r of [pair.a, pair.b]) expect(r.exitCode, describeRun(r)).toBe(0);
  const statsA = await lastBuildStats(fileA);
  const statsB = await lastBuildStats(fileB);
  const plain = await runPair({ runner: 'plain', sourceDir: fixture });
  for (const r of [plain.a, plain.b]) expect(r.exitCode, describeRun(r)).toBe(0);
  return { pair, plain, statsA, statsB, remove: () => removeUnlessKept(pair.root, plain.root, scratch) };
}
