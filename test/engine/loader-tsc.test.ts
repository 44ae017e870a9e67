/**
 * The dynamic loader's own TSC reads (~8 in every program: the timing of its
 * startup and relocations) are replaced, after the first program, by an
 * instruction of the same length in each process's copy of the loader
 * (src/supervisor/ldtsc.c): no SIGSEGV stop each. A program's own rdtsc still
 * reads the logical TSC.
 *
 * test/fixtures/loader-tsc starts /bin/true 100 times, then a program that
 * reads the TSC three times (twice), then /bin/true with LD_DEBUG=statistics,
 * which prints the loader's timings. Built twice under different real
 * conditions (NORMAL, HOSTILE): identical, the loader's statistics included
 * (before, its reads before arch_prctl(ARCH_SET_FS) ran on the real TSC and
 * the statistics differed from run to run); the plain control differs. And
 * the emulated TSC reads of the whole build stay in the tens where there were
 * four per program (over 400) before.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PairRecord, RunRecord } from '../helpers/conditions.js';
import { countedPairs, type CountedPairs } from '../helpers/counted-pairs.js';
import { repoRoot } from '../helpers/trees.js';

const FIXTURE = path.join(repoRoot, 'test', 'fixtures', 'loader-tsc');

const read = (r: RunRecord, name: string) => readFile(path.join(r.outDir, 'artifacts', name), 'utf8');

describe("the dynamic loader's TSC reads", () => {
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

  it('stop only in the first programs: replaced in the others', () => {
    expect(stats.execs).toBeGreaterThanOrEqual(100);
    // the program's own 6 reads, and the loader's in the first programs
    expect(stats.rdtsc).toBeLessThan(40);
    expect(stats.loaderTscPatched).toBeGreaterThanOrEqual(4 * 100);
  });

  it("leave a program's own reads on the logical TSC: the same in every run, not the host's", async () => {
    const a = await read(pair.a, 'tsc.txt');
    expect(await read(pair.b, 'tsc.txt')).toBe(a);
    const [x, y, z] = a.split('\n')[0]!.split(' ').map(BigInt);
    // one step per read, the same step
    expect(y! - x!).toBeGreaterThan(0n);
    expect(z! - y!).toBe(y! - x!);
    expect(await read(plain.a, 'tsc.txt')).not.toBe(a);
  });

  it("make the loader's statistics the same in every run; plainly they differ", async () => {
    const a = await read(pair.a, 'loader-statistics.txt');
    expect(a).toContain('runtime linker statistics');
    expect(await read(pair.b, 'loader-statistics.txt')).toBe(a);
    expect(await read(plain.b, 'loader-statistics.txt')).not.toBe(await read(plain.a, 'loader-statistics.txt'));
  });
});
