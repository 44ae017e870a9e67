/**
 * The stat shim (src/supervisor/statshim.c) answers the stat family inside
 * the build's processes, from the identities the supervisor publishes, and
 * must answer exactly as the supervisor would.
 *
 * test/fixtures/stat-shim builds a C program and asks every stat entry point
 * (stat, lstat, fstat, fstatat, statx, the old __xstat) about files the build
 * created, hard-linked, renamed and changed after a first stat, and about
 * toolchain files; stat(1), find and Python ask too, and tar, cpio, ar and
 * Python's byte-compiler record what they were told. It is built twice under
 * different real conditions (NORMAL, then HOSTILE: another CPU, load, TZ,
 * umask 077, a later clock), the first with the shim answering, the second
 * with DETBUILD_NO_STAT_SHIM=1 (every stat stops in the supervisor): the
 * results must be byte-identical, and the counters must show that the shim
 * answered most stats of the first run. The control builds the pair with
 * --plain: the results differ.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PairRecord, RunRecord } from '../helpers/conditions.js';
import { countedPairs, type CountedPairs } from '../helpers/counted-pairs.js';
import { compareTrees, repoRoot } from '../helpers/trees.js';

const FIXTURE = path.join(repoRoot, 'test', 'fixtures', 'stat-shim');

const artifactsOf = (r: RunRecord) => path.join(r.outDir, 'artifacts');

describe('the stat shim answers as the supervisor does', () => {
  let pair: PairRecord;
  let plain: PairRecord;
  let runs: CountedPairs | undefined;
  let statsA: Record<string, number>;
  let statsB: Record<string, number>;

  beforeAll(async () => {
    runs = await countedPairs(FIXTURE, { DETBUILD_NO_STAT_SHIM: '1' });
    ({ pair, plain } = runs);
    ({ statsA, statsB } = runs);
  }, 300_000);
  afterAll(async () => runs?.remove());

  it('answered most stats in the process with the shim, none without', () => {
    // without: every stat of the build stops in the supervisor
    expect(statsB.fsStats).toBeGreaterThan(1000);
    // with: only first sights, the C library's own calls and static programs stop
    expect(statsA.fsStats).toBeLessThan((statsB.fsStats ?? 0) * 0.6);
  });

  it('gives byte-identical answers and archives either way', async () => {
    const cmp = await compareTrees(artifactsOf(pair.a), artifactsOf(pair.b));
    expect(cmp.differ).toEqual([]);
    expect(cmp.same.sort()).toEqual(['fakeroot.txt', 'find.txt', 'first.txt', 'py.txt', 'second.txt', 'stat1.txt', 'w.a', 'w.cpio', 'w.tar']);
  });

  it('answers a file the same at its first sight (the supervisor) and later (the shim)', async () => {
    for (const name of ['first.txt', 'second.txt']) {
      const lines = (await readFile(path.join(artifactsOf(pair.a), name), 'utf8')).split('\n');
      // statall.c asks each file twice, 6-7 lines a round
      const perFile = new Map<string, string[][]>();
      for (const line of lines) {
        const m = /^\S+ (\S+): /.exec(line);
        if (!m) continue;
        const rounds = perFile.get(m[1]!) ?? [[]];
        const cur = rounds[rounds.length - 1]!;
        if (cur.length > 0 && line.startsWith('stat ')) rounds.push([line]);
        else cur.push(line);
        perFile.set(m[1]!, rounds);
      }
      expect(perFile.size).toBeGreaterThan(4);
      for (const [file, rounds] of perFile) {
        expect(rounds.length, file).toBe(2);
        expect(rounds[1], file).toEqual(rounds[0]);
      }
    }
  });

  it('control: built plainly, the results differ', async () => {
    const cmp = await compareTrees(artifactsOf(plain.a), artifactsOf(plain.b));
    expect(cmp.differ).toContain('first.txt');
    expect(cmp.differ).toContain('w.tar');
  });
});
