/**
 * Timed waits in logical time (src/supervisor/waits.c): the fixture
 * test/fixtures/timed-waits polls, selects, sleeps, waits on a condition
 * variable with a deadline and runs Python's subprocess with a timeout, each
 * beside work whose real duration depends on the machine, then writes mkstemp
 * names (glibc mixes CLOCK_MONOTONIC and clock() into them), clock values and
 * how often each wait timed out.
 *
 * Built under the engine on an idle CPU, then on the other CPU while busy
 * loops pinned to that CPU and a second, concurrent engine build compete for
 * it: all three results must be byte-identical.  Controls: two plain builds
 * under the same two conditions differ.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, runUnder, startLoad, type Conditions, type RunRecord } from '../helpers/conditions.js';
import { cleanCopy, freshDir, removeUnlessKept, repoRoot } from '../helpers/trees.js';
import { cpus } from 'node:os';

const fixture = path.join(repoRoot, 'test', 'fixtures', 'timed-waits');
const QUIET: Conditions = { name: 'idle CPU 0', cpu: 0 };
const LOADED_CPU = Math.min(1, cpus().length - 1);
const LOADED: Conditions = { name: `CPU ${LOADED_CPU} with busy loops and a concurrent build`, cpu: LOADED_CPU, umask: '077' };
const BUSY_LOOPS = 3;

/** Builds once under QUIET, then under LOADED (busy loops, and `beside` built at the same time on the same CPU). */
async function quietThenLoaded(runner: 'engine' | 'plain', src: string, root: string) {
  const quiet = await runUnder({ runner, sourceDir: src }, QUIET, path.join(root, `${runner}-quiet`));
  const stop = startLoad(BUSY_LOOPS, LOADED_CPU);
  try {
    const [loaded, beside] = await Promise.all([
      runUnder({ runner, sourceDir: src }, LOADED, path.join(root, `${runner}-loaded`)),
      runUnder({ runner, sourceDir: src }, { name: 'concurrent', cpu: LOADED_CPU }, path.join(root, `${runner}-beside`)),
    ]);
    return { quiet, loaded, beside };
  } finally {
    await stop();
  }
}

const waitsOf = (r: RunRecord) => readFile(path.join(r.outDir, 'artifacts', 'waits.txt'), 'utf8');

describe('timed waits: the same outcome under any load', () => {
  let src: string;
  let root: string;
  let engine: { quiet: RunRecord; loaded: RunRecord; beside: RunRecord };
  let plain: { quiet: RunRecord; loaded: RunRecord; beside: RunRecord };

  beforeAll(async () => {
    src = await cleanCopy(fixture);
    root = await freshDir('timed-waits');
    engine = await quietThenLoaded('engine', src, root);
    plain = await quietThenLoaded('plain', src, root);
    for (const r of [engine.quiet, engine.loaded, engine.beside]) {
      console.info(`timed waits, engine, ${r.conditions.name}: ${Math.round(r.durationMs)} ms`);
    }
  });
  afterAll(async () => removeUnlessKept(...[root, src && path.dirname(src)].filter((d): d is string => !!d)));

  it('every build succeeds', () => {
    for (const r of [engine.quiet, engine.loaded, engine.beside, plain.quiet, plain.loaded, plain.beside]) {
      expect(r.exitCode, describeRun(r)).toBe(0);
    }
  });

  it('under the engine the three builds are byte-identical, mkstemp names and clock values included', async () => {
    const [q, l, b] = await Promise.all([engine.quiet, engine.loaded, engine.beside].map(waitsOf));
    expect(l).toBe(q);
    expect(b).toBe(q);
    const [mq, ml] = await Promise.all(
      [engine.quiet, engine.loaded].map(async (r) => JSON.parse(await readFile(path.join(r.outDir, 'manifest.json'), 'utf8'))),
    );
    expect(ml).toEqual(mq);
  });

  it('a wait times out only when nothing else can run: never while the work it waits for computes', async () => {
    const text = await waitsOf(engine.quiet);
    const timeouts = Object.fromEntries([...text.matchAll(/^([a-z-]+): timeouts=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
    // the child's or thread's result arrives before any timeout; an idle
    // watchdog sleeps once, then finds the work done; the sleep-and-reap loop
    // never sleeps: its waitpid(WNOHANG) answers at a quiescent moment
    // (settle.c), when the child is done
    expect(timeouts).toEqual({ poll: 0, 'sleep-and-reap': 0, select: 0, condvar: 0, watchdog: 1, sleep: 0 });
    expect(text).toMatch(/^sleep: 250 ms measured \d+ ns \(ok\)$/m);
  });

  it('control: plain builds under the same conditions differ', async () => {
    const [q, l, b] = await Promise.all([plain.quiet, plain.loaded, plain.beside].map(waitsOf));
    expect(l).not.toBe(q);
    expect(b).not.toBe(q);
    // and the waits really did time out plainly, a number of times that depends on the machine
    expect(q).toMatch(/^poll: timeouts=[1-9]/m);
  });
});
