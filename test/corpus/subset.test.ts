/**
 * The CI subset of the corpus: source packages built twice plainly
 * (dpkg-source -x and dpkg-buildpackage on the host, as a rebuilder runs
 * them) and twice with `detbuild deb`, run A and run B of each pair under the
 * two sets of conditions reprotest varies (bench/lib/corpus-conditions.mjs:
 * another build path on disorderfs, another system user, host name, kernel
 * string, clock ~398 days ahead, CPUs and load, TZ, locale with LC_ALL, umask,
 * HOME, PATH, environment). A package that captures one of them must differ
 * plainly (else it proves nothing any more) and be identical under the engine;
 * a control is identical either way.
 *
 * The real packages are test/corpus/corpus.json's "subset": true entries
 * (sources and build dependencies: `sudo sh test/corpus/fetch.sh --subset`,
 * which ./scripts/example.sh and .ci/run run, and which creates the two
 * users); the causes the archive here offers no small package for are
 * generated probe packages (test/corpus/probe-sources.ts). Needs root (other
 * users, a UTS namespace, disorderfs): skipped with one line otherwise. The
 * full corpus is `npm run corpus`.
 */
import { execa } from 'execa';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module shared with the corpus benchmark
import { REPROTEST_CONDITIONS, buildVaried, cachedDsc, conditionsUnavailable, differingDebs, loadCorpus, sameArtifacts, sleep } from '../../bench/lib/corpus.mjs';
import { freshDir, removeUnlessKept } from '../helpers/trees.js';
import { makeCauseProbe, type ProbeCause } from './probe-sources.js';

interface Entry {
  package: string;
  version?: string;
  role: 'unreproducible' | 'control' | 'qubes' | 'probe';
  expectedCause?: string;
  subset?: boolean;
  nocheck?: boolean;
  timeStep?: number;
  upstream?: string;
  probe?: ProbeCause;
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

// its own build directories, apart from a corpus run's (/var/tmp/detbuild-corpus) on the same machine
process.env.DETBUILD_CORPUS_WORK ??= '/var/tmp/detbuild-corpus-test';
const unavailable = conditionsUnavailable() as string | null;
if (unavailable) console.info(`test/corpus/subset.test.ts skipped: ${unavailable}`);

const probes: Entry[] = [
  { package: 'detbuild-captures-path', role: 'probe', probe: 'path', expectedCause: 'build path (a configure-style srcdir=$(pwd))' },
  { package: 'detbuild-captures-locale', role: 'probe', probe: 'locale', expectedCause: 'locale (sort(1) collation)' },
  // the archive's time-caused packages here (hello: the year; bibtool: the time zone) take minutes per build under B
  { package: 'detbuild-captures-time', role: 'probe', probe: 'time', expectedCause: 'time (date(1) at build time)' },
];
const subset: Entry[] = [...(loadCorpus().packages as Entry[]).filter((e) => e.subset && !e.upstream), ...probes];

it.skipIf(unavailable !== null)('the subset has a path-, a locale- and a time-caused package and a control', () => {
  const roles = subset.map((e) => `${e.package}: ${e.role} ${e.expectedCause ?? ''}`).join('\n');
  expect(subset.some((e) => e.role === 'control'), roles).toBe(true);
  for (const cause of [/path/i, /locale/i, /time/i]) expect(subset.some((e) => e.role !== 'control' && cause.test(e.expectedCause ?? '')), `${cause}\n${roles}`).toBe(true);
});

/** The file the probe's build recorded, read out of its .deb. */
async function captured(r: Run, entry: Entry): Promise<string> {
  const deb = path.join(r.outDir, 'artifacts', Object.keys(r.debs)[0]!);
  const out = await execa('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -xOf - "./usr/share/$2/captured"', 'sh', deb, entry.package]);
  return out.stdout.trim();
}

describe.skipIf(unavailable !== null).each(subset)('$package ($role)', (entry) => {
  let root: string;
  const runs: Record<string, Run> = {};

  beforeAll(async () => {
    root = await freshDir(`corpus-${entry.package}`);
    const dsc = entry.probe ? await makeCauseProbe(root, entry.probe) : ((await cachedDsc(entry)) as string | null);
    if (!dsc) throw new Error(`the source of ${entry.package} ${entry.version} is not downloaded: run sudo sh test/corpus/fetch.sh --subset`);
    // A and B of a pair run side by side (B 3 s later, on both CPUs beside a
    // busy loop, A on CPU 0), which keeps the subset within CI's time
    for (const mode of ['plain', 'deterministic'] as const) {
      const one = async (which: 'A' | 'B'): Promise<void> => {
        if (which === 'B') await sleep(3000);
        const r = (await buildVaried(dsc, mode, REPROTEST_CONDITIONS[which], path.join(root, `${mode}-${which}`), { nocheck: entry.nocheck === true, timeStep: entry.timeStep ?? null })) as Run;
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

  if (entry.probe === 'path') {
    it('plainly each build recorded its own directory; under the engine both recorded the same', async () => {
      expect(await captured(runs['plain-A']!, entry)).toMatch(/\/a\/src$/);
      expect(await captured(runs['plain-B']!, entry)).toMatch(/second-build-in-a-longer-directory\/src\/src$/);
      expect(await captured(runs['deterministic-A']!, entry)).toBe(await captured(runs['deterministic-B']!, entry));
    });
  }
  if (entry.probe === 'time') {
    it('plainly run B recorded a date about 398 days after run A; under the engine both recorded the same', async () => {
      const day = (r: Run) => captured(r, entry).then((t) => Date.parse(`${t.replace(/^built /, '').replace(' ', 'T')}Z`));
      const days = ((await day(runs['plain-B']!)) - (await day(runs['plain-A']!))) / 86_400_000;
      expect(days).toBeGreaterThan(390);
      expect(days).toBeLessThan(400);
      expect(await captured(runs['deterministic-A']!, entry)).toBe(await captured(runs['deterministic-B']!, entry));
    });
  }
  if (entry.probe === 'locale') {
    it('plainly run A sorted in C (capitals first), run B in Estonian (z after s, ch and sh apart)', async () => {
      const a = (await captured(runs['plain-A']!, entry)).split('\n');
      const b = (await captured(runs['plain-B']!, entry)).split('\n');
      expect(a[0]).toBe('Alpha');
      expect(b.indexOf('zeta')).toBeLessThan(b.length - 1);
      expect(await captured(runs['deterministic-A']!, entry)).toBe(await captured(runs['deterministic-B']!, entry));
    });
  }
});
