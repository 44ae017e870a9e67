/**
 * The dynamic loader's own fstat calls (4 to 17 at every exec: ld.so.preload,
 * the stat shim, ld.so.cache, each library) run in the kernel without a stop
 * (src/supervisor/ldsite.c, ipfilter.c): the loader only compares their
 * answers among themselves. Everything else still gets the view's answer.
 *
 * test/fixtures/loader-fstat fstats libc, a file the build made and a source
 * file from a dynamic and a static program, and runs /bin/true 200 times. Built
 * twice under different real conditions (NORMAL, HOSTILE): the answers are
 * identical and are the view's (the inode number of libc is not the host's,
 * which the plain control shows), and the build's stat-family stops and
 * notifications, compiler included (~200), stay under two per /bin/true
 * (the loader alone makes four in each: 800 more before).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PairRecord, RunRecord } from '../helpers/conditions.js';
import { countedPairs, type CountedPairs } from '../helpers/counted-pairs.js';
import { repoRoot } from '../helpers/trees.js';

const FIXTURE = path.join(repoRoot, 'test', 'fixtures', 'loader-fstat');

const read = (r: RunRecord, name: string) => readFile(path.join(r.outDir, 'artifacts', name), 'utf8');

describe("the dynamic loader's fstat calls", () => {
  let pair: PairRecord;
  let plain: PairRecord;
  let runs: CountedPairs | undefined;
  let stats: Record<string, number>;

  beforeAll(async () => {
    runs = await countedPairs(FIXTURE);
    ({ pair, plain } = runs);
    stats = runs.statsA;
  }, 300_000);
  afterAll(async () => runs?.remove());

  it('stop neither in the supervisor nor as notifications', () => {
    const statStops = Object.entries(stats)
      .filter(([k]) => /^(stop|notif)\.(newfstatat|fstat|stat|lstat|statx)$/.test(k))
      .reduce((n, [, v]) => n + v, 0);
    expect(stats.execs).toBeGreaterThanOrEqual(200);
    expect(statStops).toBeLessThan(400);
  });

  it("leave a program's own fstat to the view, dynamic or static: identical answers, not the host's", async () => {
    for (const name of ['fstat-dyn.txt', 'fstat-static.txt']) {
      const a = await read(pair.a, name);
      expect(await read(pair.b, name)).toBe(a);
      const libc = (t: string) => /^\S*libc\.so\.6 dev \S+ ino (\d+)/m.exec(t)?.[1];
      expect(libc(a)).toBeDefined();
      expect(libc(a)).not.toBe(libc(await read(plain.a, name)));
    }
    // the dynamic program (its fstat answered by the stat shim) and the static one (by the supervisor) agree
    expect(await read(pair.a, 'fstat-static.txt')).toBe(await read(pair.a, 'fstat-dyn.txt'));
  });
});
