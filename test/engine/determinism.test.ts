/**
 * The determinism engine, end to end: the probe fixture (test/fixtures/probe) is
 * built twice under deliberately different real conditions (test/helpers/conditions.ts)
 * and every artifact must come out byte-identical, with sane values (one CPU, a
 * clock starting at --epoch and advancing, random reads that differ, sleeps that
 * advance the clock, timeouts that do not fire early).
 *
 * Controls: the fixture run directly (no detbuild) and with `--plain` must differ,
 * which proves the comparison can see a difference at all.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HOSTILE,
  NORMAL,
  describeRun,
  runPair,
  runUnder,
  type BuildRequest,
  type Conditions,
  type PairRecord,
  type RunRecord,
} from '../helpers/conditions.js';
import {
  allProbes,
  diffAllProbes,
  probeFixture,
  readFirstDate,
  readProbes,
  sanityFailures,
  value,
  type ProbeReport,
} from '../helpers/probes.js';
import { cleanCopy, compareTrees, freshDir, removeUnlessKept, sha256File } from '../helpers/trees.js';
import type { Manifest } from '../../src/engine/types.js';

const EPOCH = 1_700_000_000;
const DAY = 86_400;
const SEED = 'a1b2c3d4e5f60718';
const OTHER_SEED = '0123456789abcdef';
/** the sanity check that only the engine can make hold */
const ENGINE_ONLY = ['cpus-one'];
/** outputs that carry file times (tar, tar.gz, gzip, jar, a stat listing): identical under the engine, never plainly */
const FILETIMES = 'filetimes/';
/**
 * Readings of the Go probe that depend on how its runtime scheduled its own
 * threads (monotonic-clock readings): docs/ENGINE.md, "Known limits".  The Makefile
 * moves them here; they must name the same keys in both runs and stay within
 * SCHEDULING_SLACK of each other.  (The JVM's are compared byte for byte: its
 * own bookkeeping reads do not advance the clock.)
 */
const SCHEDULING = 'scheduling/';
/** monotonic clocks advance 1 µs per read: 1 ms is a thousand reads of drift */
const SCHEDULING_SLACK_NS = 1_000_000;

type Reports = Map<string, ProbeReport>;

function expectSucceeded(...runs: RunRecord[]): void {
  for (const r of runs) expect(r.exitCode, describeRun(r)).toBe(0);
}

const artifactsOf = (r: RunRecord) => path.join(r.outDir, 'artifacts');

/** Seconds as a float from the probes' `S.NNNNNNNNN` notation (exact to the microsecond here). */
const seconds = (s: string) => Number(s);

/** The first wall-clock reading of each probe, in seconds. */
function firstWallClock(r: Reports): Record<string, number> {
  return {
    'c-dynamic': seconds(value(r, 'c-dynamic', 'clock.REALTIME.0')),
    'c-static': seconds(value(r, 'c-static', 'clock.REALTIME.0')),
    'c-threads': seconds(value(r, 'c-threads', 'clock.REALTIME.0')),
    go: Number(value(r, 'go', 'time.now.0')) / 1e9,
    python: Number(value(r, 'python', 'time.time.0')),
    java: Number(value(r, 'java', 'currentTimeMillis.0')) / 1e3,
    shell: Number(value(r, 'shell', 'date.pipe.0')),
  };
}

/** Values that any two uncontrolled runs see differently: times and random bytes. */
const MUST_DIFFER_PLAINLY: Array<[string, string]> = [
  ['c-dynamic', 'clock.REALTIME.0'],
  ['c-dynamic', 'clock.MONOTONIC.0'],
  ['c-dynamic', 'getrandom.0'],
  ['c-dynamic', 'urandom.0'],
  ['c-dynamic', 'at_random'],
  ['c-static', 'getrandom.0'],
  ['c-threads', 'thread.0.0.random'],
  ['go', 'time.now.0'],
  ['go', 'crypto_rand.0'],
  ['python', 'time.time.0'],
  ['python', 'os.urandom.0'],
  ['python', 'uuid4.0'],
  ['java', 'currentTimeMillis.0'],
  ['java', 'nanoTime.0'],
  ['java', 'random.nextLong.0'],
  ['java', 'uuid.0'],
  ['shell', 'date.pipe.0'],
  ['shell', 'uuid.0'],
];

function expectDifferPlainly(a: Reports, b: Reports): void {
  const same = MUST_DIFFER_PLAINLY.filter(([p, k]) => value(a, p, k) === value(b, p, k)).map(([p, k]) => `${p} ${k}`);
  expect(same, 'values that should differ between two uncontrolled runs').toEqual([]);
}

/** Logs where the two runs of a pair differ (for the record; plain runs are expected to). */
async function logDifferences(label: string, pair: PairRecord): Promise<void> {
  const cmp = await compareTrees(artifactsOf(pair.a), artifactsOf(pair.b));
  console.info(
    `${label}: A ${Math.round(pair.a.durationMs)} ms, B ${Math.round(pair.b.durationMs)} ms, real gap ${pair.realGapMs} ms; ` +
      `${cmp.same.length} artifacts identical, ${cmp.differ.length} differ: ${cmp.differ.join(' ')}`,
  );
}

/** The probe fixture built as a pair in a beforeAll (removed afterwards, unless kept), and its readings. */
function probePair(label: string, req: Omit<BuildRequest, 'sourceDir'>, conditions?: { a: Conditions; b: Conditions }) {
  const run = {} as { pair: PairRecord; a: Reports; b: Reports };
  let src: string | undefined;
  beforeAll(async () => {
    src = await cleanCopy(probeFixture);
    run.pair = await runPair({ ...req, sourceDir: src }, conditions);
    expectSucceeded(run.pair.a, run.pair.b);
    [run.a, run.b] = await Promise.all([readProbes(artifactsOf(run.pair.a)), readProbes(artifactsOf(run.pair.b))]);
    await logDifferences(label, run.pair);
  });
  afterAll(async () => removeUnlessKept(...[run.pair?.root, src && path.dirname(src)].filter((d): d is string => !!d)));
  return run;
}

/** What holds for both controls (run directly, and --plain): the probes sane, their readings different. */
function controlChecks(run: { a: Reports; b: Reports }) {
  it('the sanity checks hold (but one CPU, which only the engine gives)', () => {
    expect(sanityFailures(run.a, ENGINE_ONLY)).toEqual([]);
    expect(sanityFailures(run.b, ENGINE_ONLY)).toEqual([]);
  });

  it('times and random bytes differ between the two runs', () => {
    expectDifferPlainly(run.a, run.b);
  });
}

describe('probe fixture run directly, without detbuild (checks the fixture and the harness)', () => {
  const run = probePair('direct', { runner: 'direct' });
  controlChecks(run);

  it('every probe ran and reported', () => {
    expect([...run.a.keys()].sort()).toEqual([...allProbes, 'first-date'].sort());
    expect([...run.b.keys()].sort()).toEqual([...allProbes, 'first-date'].sort());
  });

  it('run B really was under the hostile conditions (the harness works)', () => {
    expect(value(run.b, 'c-dynamic', 'env.TZ')).toBe('Asia/Tokyo');
    expect(value(run.b, 'c-dynamic', 'env.HOME')).toBe('/nonexistent');
    expect(value(run.b, 'c-dynamic', 'env.SOURCE_DATE_EPOCH')).toBe('1');
    expect(value(run.b, 'c-dynamic', 'env.MAKEFLAGS')).toContain('j8');
    expect(value(run.b, 'c-dynamic', 'umask')).toBe('0077');
    expect(value(run.b, 'c-dynamic', 'cpus.affinity')).toBe('1');
    expect(value(run.b, 'go', 'env.GOMAXPROCS')).toBe('7');
    expect(value(run.a, 'c-dynamic', 'env.TZ')).toBe('(unset)');
    expect(value(run.a, 'c-dynamic', 'cpus.affinity')).toBe('1');
    expect(run.pair.realGapMs).toBeGreaterThanOrEqual(run.pair.a.durationMs + 2_900);
  });
});

describe('determinism engine: the probe fixture built twice under different conditions', () => {
  const run = probePair('engine', { runner: 'engine', epoch: EPOCH }, { a: NORMAL, b: HOSTILE });

  it('the manifests list the same artifacts with the same hashes, and the hashes are those of the files', async () => {
    const [ma, mb] = await Promise.all(
      [run.pair.a, run.pair.b].map(async (r) => JSON.parse(await readFile(path.join(r.outDir, 'manifest.json'), 'utf8')) as Manifest),
    );
    for (const [r, m] of [[run.pair.a, ma!], [run.pair.b, mb!]] as const) {
      expect(m.epoch).toBe(EPOCH);
      for (const art of m.artifacts) {
        expect(await sha256File(path.join(artifactsOf(r), art.path)), art.path).toBe(art.sha256);
      }
    }
    const strip = (m: Manifest) => m.artifacts.filter((x) => !x.path.startsWith(SCHEDULING));
    expect(strip(mb!)).toEqual(strip(ma!));
    expect(mb!.artifacts.map((x) => x.path)).toEqual(ma!.artifacts.map((x) => x.path));
    expect({ ...mb!, artifacts: [] }).toEqual({ ...ma!, artifacts: [] });
  });

  it('every artifact is byte-identical, the archives that record file times included', async () => {
    const cmp = await compareTrees(artifactsOf(run.pair.a), artifactsOf(run.pair.b));
    const differ = cmp.differ.filter((f) => !f.startsWith(SCHEDULING));
    const detail = diffAllProbes(run.a, run.b).slice(0, 80).join('\n');
    expect({ differ, onlyA: cmp.onlyA, onlyB: cmp.onlyB }, `probe values that differ:\n${detail}`).toEqual({
      differ: [],
      onlyA: [],
      onlyB: [],
    });
    expect(cmp.same.length).toBeGreaterThan(allProbes.length);
  });

  it('the scheduling-dependent readings of the Go runtime name the same keys and stay within a millisecond', async () => {
    const parse = (text: string) =>
      new Map(text.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
    for (const probe of ['go']) {
      const [ta, tb] = await Promise.all(
        [run.pair.a, run.pair.b].map((r) => readFile(path.join(artifactsOf(r), SCHEDULING, `${probe}.txt`), 'utf8')),
      );
      const [ka, kb] = [parse(ta!), parse(tb!)];
      expect([...kb.keys()], probe).toEqual([...ka.keys()]);
      expect(ka.size, probe).toBeGreaterThan(0);
      for (const [key, va] of ka) {
        if (key.startsWith('sched.random.')) continue; // seeded from nanoTime: any value
        const [na, nb] = [Number(va), Number(kb.get(key))];
        const slack = key === 'sched.waitloop.n' ? SCHEDULING_SLACK_NS / 1000 : SCHEDULING_SLACK_NS;
        expect(Math.abs(na - nb), `${probe} ${key}: ${va} vs ${kb.get(key)}`).toBeLessThanOrEqual(slack);
      }
    }
  });

  it('the file-time archives are among the identical artifacts', async () => {
    const cmp = await compareTrees(artifactsOf(run.pair.a), artifactsOf(run.pair.b));
    const filetimes = cmp.same.filter((f) => f.startsWith(FILETIMES));
    expect(filetimes).toEqual(expect.arrayContaining([`${FILETIMES}probes.tar`, `${FILETIMES}probes.tar.gz`, `${FILETIMES}stat.txt`]));
  });

  it('every sanity check holds in every probe, in both runs', () => {
    expect([...run.a.keys()].sort()).toEqual([...allProbes, 'first-date'].sort());
    expect(sanityFailures(run.a)).toEqual([]);
    expect(sanityFailures(run.b)).toEqual([]);
  });

  it('every probe counts exactly one CPU', () => {
    for (const r of [run.a, run.b]) {
      for (const p of ['c-dynamic', 'c-static', 'c-threads']) {
        for (const k of ['sysconf_onln', 'sysconf_conf', 'affinity', 'get_nprocs', 'get_nprocs_conf', 'proc_cpuinfo']) {
          expect(value(r, p, `cpus.${k}`), `${p} cpus.${k}`).toBe('1');
        }
      }
      expect(value(r, 'go', 'cpus.numcpu')).toBe('1');
      expect(value(r, 'go', 'cpus.gomaxprocs')).toBe('1');
      expect(value(r, 'python', 'cpus.os_cpu_count')).toBe('1');
      expect(value(r, 'python', 'cpus.multiprocessing')).toBe('1');
      expect(value(r, 'java', 'cpus.availableProcessors')).toBe('1');
      expect(value(r, 'shell', 'nproc')).toBe('1');
      expect(value(r, 'shell', 'nproc.all')).toBe('1');
    }
  });

  it('the wall clock starts at --epoch and moves one step per read', async () => {
    const first = await readFirstDate(artifactsOf(run.pair.a));
    expect(first).toBeGreaterThanOrEqual(EPOCH);
    expect(first).toBeLessThan(EPOCH + 3_600);
    for (const [probe, t] of Object.entries(firstWallClock(run.a))) {
      expect(t, probe).toBeGreaterThanOrEqual(EPOCH);
      expect(t, probe).toBeLessThan(EPOCH + 7 * DAY);
    }
    expect(value(run.a, 'c-dynamic', 'env.SOURCE_DATE_EPOCH')).toBe(String(EPOCH));
    // three back-to-back REALTIME reads: exactly one default step (1 s) apart
    const reads = [0, 1, 2].map((i) => BigInt(value(run.a, 'c-dynamic', `clock.REALTIME.${i}`).replace('.', '')));
    expect(reads[1]! - reads[0]!).toBe(1_000_000_000n);
    expect(reads[2]! - reads[1]!).toBe(1_000_000_000n);
  });

  it('sleeps advance the clock by their length and timeouts do not fire early', () => {
    const timing = (r: Reports) =>
      [...r.values()].flatMap((p) => p.sanity).filter((s) => /sleep|timeout|poll|waitloop/.test(s.check));
    for (const r of [run.a, run.b]) {
      const checks = timing(r);
      expect(checks.length).toBeGreaterThanOrEqual(15);
      expect(checks.filter((s) => !s.ok).map((s) => `${s.probe}: ${s.check}: ${s.why}`)).toEqual([]);
    }
  });

  it('nothing of the caller leaks in: environment, umask, time zone, locale', () => {
    const env = (k: string) => value(run.b, 'c-dynamic', `env.${k}`);
    expect(env('TZ')).not.toBe('Asia/Tokyo');
    expect(env('HOME')).not.toBe('/nonexistent');
    expect(env('LANG')).not.toBe('de_DE.UTF-8');
    expect(env('LC_ALL')).not.toBe('de_DE.UTF-8');
    expect(env('PATH')).not.toContain('/nonexistent');
    expect(env('SOURCE_DATE_EPOCH')).toBe(String(EPOCH));
    expect(env('MAKEFLAGS')).not.toContain('j8');
    expect(value(run.b, 'c-dynamic', 'umask')).not.toBe('0077');
    expect(value(run.b, 'go', 'env.GOMAXPROCS')).not.toBe('7');
    expect(value(run.b, 'python', 'env.PYTHONHASHSEED')).not.toBe('4242');
    expect(value(run.b, 'java', 'timezone')).not.toBe('America/Sao_Paulo');
  });
});

describe('control: the same fixture built twice with --plain differs', () => {
  const run = probePair('plain', { runner: 'plain', epoch: EPOCH });
  controlChecks(run);

  it('the artifacts differ', async () => {
    const cmp = await compareTrees(artifactsOf(run.pair.a), artifactsOf(run.pair.b));
    expect(cmp.differ).toEqual(
      expect.arrayContaining(['probes/c-dynamic.txt', 'probes/go.txt', 'probes/shell.txt', `${FILETIMES}probes.tar`, `${FILETIMES}stat.txt`]),
    );
  });

  it('the real clock is seen, not the epoch', () => {
    for (const [probe, t] of Object.entries(firstWallClock(run.a))) {
      expect(Math.abs(t * 1000 - run.pair.a.startedAt), probe).toBeLessThan(run.pair.a.durationMs + 5_000);
    }
  });
});

describe('determinism engine: flags, and only the build is affected', () => {
  const OTHER_EPOCH = EPOCH + 1_000_000;
  let src: string;
  let root: string;
  let base: RunRecord;
  let otherSeed: RunRecord;
  let otherEpoch: RunRecord;
  let during: { samples: number; maxSkewMs: number; childDate: number | null; childDateAt: number; buildStillRunning: boolean };

  beforeAll(async () => {
    src = await cleanCopy(probeFixture);
    root = await freshDir('flags');
    const req: BuildRequest = { runner: 'engine', sourceDir: src, command: 'make quick', epoch: EPOCH, seed: SEED };

    // the base build, while this process watches its own clock and starts a process of its own
    let running = true;
    let maxSkewMs = 0;
    let samples = 0;
    const sampler = setInterval(() => {
      samples++;
      maxSkewMs = Math.max(maxSkewMs, Math.abs(Date.now() - (performance.timeOrigin + performance.now())));
    }, 100);
    // the base build ends with a loop of ~2 s of CPU here (no system calls: real time under the
    // engine too), so that it is still running at 0.7 s however fast the rest of it became
    const busy = 'i=0; while [ $i -lt 3000000 ]; do i=$((i+1)); done';
    const build = runUnder({ ...req, command: `${req.command} && ${busy}` }, NORMAL, path.join(root, 'base')).finally(() => {
      running = false;
    });
    await new Promise((r) => setTimeout(r, 700));
    const child = await execa('date', ['+%s.%N'], { reject: false });
    during = {
      samples: 0,
      maxSkewMs: 0,
      childDate: child.exitCode === 0 ? Number(child.stdout) : null,
      childDateAt: Date.now(),
      buildStillRunning: running,
    };
    base = await build;
    clearInterval(sampler);
    during.samples = samples;
    during.maxSkewMs = maxSkewMs;

    otherSeed = await runUnder({ ...req, seed: OTHER_SEED, timeStep: 2 }, NORMAL, path.join(root, 'seed'));
    otherEpoch = await runUnder({ ...req, epoch: OTHER_EPOCH }, NORMAL, path.join(root, 'epoch'));
    expectSucceeded(base, otherSeed, otherEpoch);
  });
  afterAll(async () => removeUnlessKept(...[root, src && path.dirname(src)].filter((d): d is string => !!d)));

  it('the manifest records the epoch and seed given', async () => {
    const m = JSON.parse(await readFile(path.join(base.outDir, 'manifest.json'), 'utf8')) as Manifest;
    expect(m.epoch).toBe(EPOCH);
    expect(m.seed).toBe(SEED);
  });

  it('a different --seed gives different random bytes', async () => {
    const [x, y] = await Promise.all([readProbes(artifactsOf(base)), readProbes(artifactsOf(otherSeed))]);
    for (const k of ['getrandom.0', 'getrandom.1', 'urandom.0', 'random.0', 'at_random']) {
      expect(value(y, 'c-dynamic', k), k).not.toBe(value(x, 'c-dynamic', k));
    }
    expect(value(y, 'shell', 'uuid.0')).not.toBe(value(x, 'shell', 'uuid.0'));
  });

  it('--time-step sets how far the wall clock moves per read', async () => {
    const y = await readProbes(artifactsOf(otherSeed));
    const reads = [0, 1, 2].map((i) => BigInt(value(y, 'c-dynamic', `clock.REALTIME.${i}`).replace('.', '')));
    expect(reads[1]! - reads[0]!).toBe(2_000_000_000n);
    expect(reads[2]! - reads[1]!).toBe(2_000_000_000n);
  });

  it('a different --epoch moves every wall-clock reading', async () => {
    const [x, y] = await Promise.all([readProbes(artifactsOf(base)), readProbes(artifactsOf(otherEpoch))]);
    for (const [r, epoch, run] of [[x, EPOCH, base], [y, OTHER_EPOCH, otherEpoch]] as const) {
      const first = await readFirstDate(artifactsOf(run));
      expect(first).toBeGreaterThanOrEqual(epoch);
      expect(first).toBeLessThan(epoch + 3_600);
      const t = seconds(value(r, 'c-dynamic', 'clock.REALTIME.0'));
      expect(t).toBeGreaterThanOrEqual(epoch);
      expect(t).toBeLessThan(epoch + DAY);
      expect(value(r, 'c-dynamic', 'env.SOURCE_DATE_EPOCH')).toBe(String(epoch));
    }
  });

  it('only the build is affected: during a build, this process and a process it starts read the real clock', async () => {
    expect(during.buildStillRunning, 'the check ran while the build was still running').toBe(true);
    expect(during.samples).toBeGreaterThanOrEqual(5);
    expect(during.maxSkewMs).toBeLessThan(1_000);
    expect(during.childDate).not.toBeNull();
    expect(Math.abs(during.childDate! * 1000 - during.childDateAt)).toBeLessThan(2_000);
    expect(during.childDate!).toBeGreaterThan(EPOCH + 365 * DAY);
    // meanwhile the build itself saw the logical clock
    const first = await readFirstDate(artifactsOf(base));
    expect(first).toBeLessThan(EPOCH + 3_600);
  });
});
