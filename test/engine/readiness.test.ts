/**
 * Answers that depend on scheduling, settled at a quiescent moment
 * (src/supervisor/settle.c): the fixture test/fixtures/readiness waits on the
 * pipes of two workers with poll and with select (which pipes are ready at a
 * wake-up depends on which worker the CPU ran first), polls a computing
 * child's pipe with a zero timeout and waits for a computing child with
 * WNOHANG (how many "not yet" answers depends on the CPU's speed and load),
 * and reads the clock at every wake-up.  A third runner's workers wait for
 * work by spinning on a non-blocking read (as OUnit's do), so the build never
 * falls asleep while the runner waits: its waits end when both pipes are
 * ready, and its last one (one worker given work, the other spinning) after
 * the real-time bound, with the only answer it can have.  Last, it feeds a
 * child that reads to its end before it answers, selecting on both pipes,
 * as rpmbuild feeds its dependency generators: the supervisor's copies of
 * the descriptors a barrier watched must not keep the pipe open (they did,
 * and the child waited for its end forever).
 *
 * Built under the engine on an idle CPU, then on the other CPU while busy
 * loops pinned to it compete: the two results must be byte-identical, and
 * every wake-up found both workers done.  Control: plain builds under the
 * same two conditions differ (the fixture's own runs show which pipes were
 * ready and how often the loops went round).
 */
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, runUnder, startLoad, type Conditions, type RunRecord } from '../helpers/conditions.js';
import { cleanCopy, freshDir, removeUnlessKept, repoRoot } from '../helpers/trees.js';

const fixture = path.join(repoRoot, 'test', 'fixtures', 'readiness');
const QUIET: Conditions = { name: 'idle CPU 0', cpu: 0 };
const LOADED_CPU = Math.min(1, cpus().length - 1);
const LOADED: Conditions = { name: `CPU ${LOADED_CPU} with busy loops`, cpu: LOADED_CPU };

async function quietThenLoaded(runner: 'engine' | 'plain', src: string, root: string) {
  const quiet = await runUnder({ runner, sourceDir: src }, QUIET, path.join(root, `${runner}-quiet`));
  const stop = startLoad(2, LOADED_CPU);
  try {
    return { quiet, loaded: await runUnder({ runner, sourceDir: src }, LOADED, path.join(root, `${runner}-loaded`)) };
  } finally {
    await stop();
  }
}

const resultOf = (r: RunRecord) => readFile(path.join(r.outDir, 'artifacts', 'readiness.txt'), 'utf8');

describe('answers that depend on scheduling: the same under any load', () => {
  let src: string;
  let root: string;
  let engine: { quiet: RunRecord; loaded: RunRecord };
  let plain: { quiet: RunRecord; loaded: RunRecord };

  beforeAll(async () => {
    src = await cleanCopy(fixture);
    root = await freshDir('readiness');
    engine = await quietThenLoaded('engine', src, root);
    plain = await quietThenLoaded('plain', src, root);
  }, 300_000);
  afterAll(async () => removeUnlessKept(...[root, src && path.dirname(src)].filter((d): d is string => !!d)));

  it('every build succeeds', () => {
    for (const r of [engine.quiet, engine.loaded, plain.quiet, plain.loaded]) expect(r.exitCode, describeRun(r)).toBe(0);
  });

  it('under the engine: identical results, every wake-up with both workers done, no empty answer', async () => {
    const a = await resultOf(engine.quiet);
    expect(await resultOf(engine.loaded)).toBe(a);
    const rounds = a.split('\n').filter((l) => / round \d+:/.test(l));
    expect(rounds).toHaveLength(37);
    for (const l of rounds.slice(0, 36)) expect(l).toMatch(/: ab$/);
    expect(rounds[36]).toBe('spin round 13: a-');
    expect(a).toContain('poll0 empty answers 0\n');
    expect(a).toContain('wnohang not-yet answers 0\n');
    expect(a).toContain('feed sent 1048576, the child read 1048576\n');
  });

  it('control: plain builds under the same conditions differ', async () => {
    expect(await resultOf(plain.loaded)).not.toBe(await resultOf(plain.quiet));
  });
});
