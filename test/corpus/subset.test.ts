/**
 * The CI subset of the corpus (test/corpus/corpus.json, "subset": true): real
 * Debian bookworm source packages built with `detbuild deb` twice plainly and
 * twice under the engine, run B under other real conditions than run A (a
 * later wall clock, other CPU, load, TZ, locale, umask, -j). A package that is not
 * reproducible plainly must differ plainly (else it proves nothing any more)
 * and be identical under the engine; a control is identical either way.
 *
 * Sources and build dependencies: `sudo sh test/corpus/fetch.sh --subset`
 * (.ci/run does it). The full corpus is `npm run corpus`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module shared with the corpus benchmark
import { CONDITIONS, buildOnce, cachedDsc, differingDebs, loadCorpus, sameArtifacts, sleep } from '../../bench/lib/corpus.mjs';
import { freshDir, removeUnlessKept } from '../helpers/trees.js';
import path from 'node:path';

interface Entry {
  package: string;
  version: string;
  role: 'unreproducible' | 'control' | 'qubes';
  expectedCause?: string;
  subset?: boolean;
  nocheck?: boolean;
  /** seconds the logical clock advances per read in the engine runs (default: the engine's 1 s) */
  timeStep?: number;
  mirror?: string;
}
interface Run {
  ok: boolean;
  ms: number;
  message: string;
  logTail?: string;
  outDir: string;
  debs: Record<string, string>;
  others: Record<string, string>;
}

const subset = (loadCorpus().packages as Entry[]).filter((e) => e.subset && !e.mirror);

it('the subset has a package that differs plainly and a control', () => {
  // Among the bookworm sources this machine could download, the only ones found
  // to differ plainly vary with the time zone (see test/corpus/corpus.json);
  // the wall clock and randomness are covered by the probe source package of
  // test/recipes/dpkg.test.ts, built by the same recipe.
  const roles = subset.map((e) => `${e.package}: ${e.role} ${e.expectedCause ?? ''}`).join('\n');
  expect(subset.some((e) => e.role === 'control'), roles).toBe(true);
  expect(subset.some((e) => e.role === 'unreproducible' && /time/i.test(e.expectedCause ?? '')), roles).toBe(true);
});

describe.each(subset)('$package $version ($role)', (entry) => {
  let root: string;
  const runs: Record<string, Run> = {};

  beforeAll(async () => {
    const dsc = (await cachedDsc(entry)) as string | null;
    if (!dsc) throw new Error(`the source of ${entry.package} ${entry.version} is not downloaded: run sudo sh test/corpus/fetch.sh --subset`);
    root = await freshDir(`corpus-${entry.package}`);
    // A and B of a pair run side by side (A on CPU 0, B on CPU 1, B started
    // 3 s later: another wall clock), which keeps the subset within CI's time
    for (const mode of ['plain', 'deterministic'] as const) {
      const one = async (which: 'A' | 'B'): Promise<void> => {
        if (which === 'B') await sleep(3000);
        const r = (await buildOnce(dsc, mode, CONDITIONS[which], path.join(root, `${mode}-${which}`), { nocheck: entry.nocheck === true, timeStep: entry.timeStep ?? null })) as Run;
        console.info(`${entry.package}: ${mode} ${which} ${r.ok ? 'ok' : 'FAILED'} in ${(r.ms / 1000).toFixed(1)} s`);
        runs[`${mode}-${which}`] = r;
      };
      await Promise.all([one('A'), one('B')]);
    }
  });
  afterAll(async () => {
    if (root) await removeUnlessKept(root);
  });

  it('all four builds succeed', () => {
    for (const [name, r] of Object.entries(runs)) expect(r.ok, `${name}: ${r.message}\n${r.logTail ?? ''}`).toBe(true);
    expect(Object.keys(runs)).toHaveLength(4);
  });

  it('under the engine the .debs, .buildinfo and .changes are identical', () => {
    const a = runs['deterministic-A']!;
    const b = runs['deterministic-B']!;
    expect(Object.keys(a.debs).length).toBeGreaterThan(0);
    expect(differingDebs(a, b)).toEqual([]);
    expect(sameArtifacts(a, b)).toBe(true);
  });

  if (entry.role === 'control') {
    it('plainly the .debs are identical too (a control)', () => {
      expect(differingDebs(runs['plain-A']!, runs['plain-B']!)).toEqual([]);
    });
  } else {
    it(`plainly the .debs differ (${entry.expectedCause})`, () => {
      expect(differingDebs(runs['plain-A']!, runs['plain-B']!).length).toBeGreaterThan(0);
    });
  }
});
