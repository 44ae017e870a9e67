/**
 * The filesystem view gives the same answers whichever way the supervisor
 * learns of a stat: as a seccomp user notification (the default) or as a
 * ptrace stop (DETBUILD_NO_NOTIFY=1, where notifications are unavailable), and
 * for a process in another root and mount namespace (unshare + chroot), whose
 * paths the supervisor resolves as that process sees them.
 *
 * test/fixtures/stat-doors asks the stat family about the same files named in
 * every way (build.sh). It is built twice under different real conditions
 * (NORMAL, then HOSTILE: another CPU, load, umask 077, a later clock), the
 * first with notifications, the second through ptrace: the answers must be
 * byte-identical, and the counters show which way each run went. The control
 * builds the same pair with --plain: the answers differ.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PairRecord, RunRecord } from '../helpers/conditions.js';
import { countedPairs, type CountedPairs } from '../helpers/counted-pairs.js';
import { compareTrees, repoRoot } from '../helpers/trees.js';

const FIXTURE = path.join(repoRoot, 'test', 'fixtures', 'stat-doors');

const artifactsOf = (r: RunRecord) => path.join(r.outDir, 'artifacts');

describe('the stat family through notifications and through ptrace', () => {
  let pair: PairRecord;
  let plain: PairRecord;
  let runs: CountedPairs | undefined;
  let statsA: Record<string, number>;
  let statsB: Record<string, number>;

  beforeAll(async () => {
    runs = await countedPairs(FIXTURE, { DETBUILD_NO_NOTIFY: '1' });
    ({ pair, plain } = runs);
    ({ statsA, statsB } = runs);
  }, 300_000);
  afterAll(async () => runs?.remove());

  it('went one way in each run', () => {
    expect(statsA.notifications).toBeGreaterThan(50);
    expect(statsA.fsStatsAtExit).toBe(0);
    expect(statsB.notifications).toBe(0);
    expect(statsB['stop.newfstatat']).toBeGreaterThan(50);
  });

  it('gives byte-identical answers, in this root and in another', async () => {
    const cmp = await compareTrees(artifactsOf(pair.a), artifactsOf(pair.b));
    expect(cmp.differ).toEqual([]);
    expect(cmp.same.sort()).toEqual(['foreign.txt', 'stat.txt']);
    const foreign = await readFile(path.join(artifactsOf(pair.a), 'foreign.txt'), 'utf8');
    if (foreign.startsWith('no user namespaces')) {
      console.log('stat-doors: no unprivileged user namespaces here: the other-root part was not run');
    } else {
      // the ptrace run let the kernel answer that process and rewrote it at the exit stop
      expect(statsB.fsStatsAtExit).toBeGreaterThan(20);
      // an absolute symbolic link resolved in that process's root
      expect(foreign).toMatch(/^stat abs \d+ \d+ 0o100644 1 5 /m);
    }
  });

  it('control: built plainly, the answers differ', async () => {
    const cmp = await compareTrees(artifactsOf(plain.a), artifactsOf(plain.b));
    expect(cmp.differ).toContain('stat.txt');
  });
});
