/**
 * CPU accounting and multithreaded spawners (issue 11), end to end: the
 * fixture test/fixtures/accounting builds
 *   - probe.txt: everything a C program reads of its CPU accounting
 *     (getrusage, times, clock, the CPU-time clocks, the rusage of wait4 and
 *     waitid, /proc/self/{stat,status,statm,schedstat,sched,io} under all their
 *     names, /proc/pressure, /proc/stat, /proc/loadavg, /proc/uptime);
 *   - gpg/: a key made by `gpg --quick-gen-key` (libgcrypt mixes getrusage
 *     into its entropy pool);
 *   - gorun.txt: time, crypto/rand bytes and map order of a program started by
 *     `go run` (the go command spawns from whichever of its threads runs the
 *     goroutine), and what a shell exec'd from a Go program's later thread reads.
 * Two builds under different real conditions (the second later, on another
 * CPU, with busy loops beside it) must be byte-identical; two plain builds
 * must differ in each of the three.
 */
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, HOSTILE, runPair, type PairRecord, type RunRecord } from '../helpers/conditions.js';
import { parseProbe, sanityFailures, type ProbeReport } from '../helpers/probes.js';
import { cleanCopy, compareTrees, removeUnlessKept, repoRoot } from '../helpers/trees.js';

const FIXTURE = path.join(repoRoot, 'test', 'fixtures', 'accounting');
const EPOCH = 1_700_000_000;
const COMMAND = 'sh build.sh';
const ARTIFACTS = ['gorun.txt', 'gpg/public.asc', 'gpg/secret.asc', 'probe.txt'];

const artifactsOf = (r: RunRecord) => path.join(r.outDir, 'artifacts');

async function probeOf(r: RunRecord): Promise<ProbeReport> {
  return parseProbe('accounting', await readFile(path.join(artifactsOf(r), 'probe.txt'), 'utf8'));
}

/** The value of `key:` in the probe's copy of /proc/self/status. */
function statusValue(p: ProbeReport, key: string): string | undefined {
  for (const [k, v] of p.values) {
    if (k.startsWith('proc.self.status.') && v.startsWith(`${key}:`)) return v.slice(key.length + 1).trim();
  }
  return undefined;
}

/** Field N (as numbered in proc(5)) of the probe's /proc/self/stat. */
function statField(p: ProbeReport, n: number): string {
  const line = p.values.get('proc.self.stat.0') ?? '';
  return line.slice(line.lastIndexOf(')') + 2).split(' ')[n - 3] ?? '';
}

/** The fixture built twice (A and B under different conditions) and their probe reports, for one describe block: made before its tests, removed after. */
function builtPair(runner: 'engine' | 'plain'): { src: string; pair: PairRecord; a: ProbeReport; b: ProbeReport } {
  const run = {} as { src: string; pair: PairRecord; a: ProbeReport; b: ProbeReport };
  beforeAll(async () => {
    run.src = await cleanCopy(FIXTURE);
    run.pair = await runPair({ runner, sourceDir: run.src, epoch: EPOCH, command: COMMAND });
    for (const r of [run.pair.a, run.pair.b]) expect(r.exitCode, describeRun(r)).toBe(0);
    [run.a, run.b] = await Promise.all([probeOf(run.pair.a), probeOf(run.pair.b)]);
  });
  afterAll(async () => removeUnlessKept(...[run.pair?.root, run.src && path.dirname(run.src)].filter((d): d is string => !!d)));
  return run;
}

describe('determinism engine: CPU accounting, a gpg key and `go run`, built twice under different conditions', () => {
  const run = builtPair('engine');

  it('every artifact is byte-identical: the accounting probe, the gpg key, what `go run` printed', async () => {
    const cmp = await compareTrees(artifactsOf(run.pair.a), artifactsOf(run.pair.b));
    expect(cmp.same.sort()).toEqual(ARTIFACTS);
    expect(cmp.differ).toEqual([]);
  });

  it('the sanity checks hold in both runs', () => {
    expect(sanityFailures(new Map([['a', run.a]]))).toEqual([]);
    expect(sanityFailures(new Map([['b', run.b]]))).toEqual([]);
  });

  it('accounting reads the logical CPU clock or fixed values: no switches, no faults, CPU 0 even when run on another', () => {
    for (const p of [run.a, run.b]) {
      expect(p.values.get('getrusage.self.1.nvcsw')).toBe('0');
      expect(p.values.get('getrusage.self.1.minflt')).toBe('0');
      expect(Number(p.values.get('getrusage.self.1.utime'))).toBeLessThan(0.001);
      expect(p.values.get('wait4.utime')).toBe('0.000000');
      expect(statusValue(p, 'voluntary_ctxt_switches')).toBe('0');
      expect(statusValue(p, 'Cpus_allowed_list')).toBe('0');
      expect(statField(p, 39)).toBe('0'); // processor
      expect(p.values.get('proc.pressure.cpu.0')).toMatch(/^some avg10=0\.00 .* total=0$/);
    }
  });

  it('`go run` gives each program it runs time and random bytes of its own', async () => {
    const lines = (await readFile(path.join(artifactsOf(run.pair.a), 'gorun.txt'), 'utf8')).split('\n');
    const rand = lines.filter((l) => l.startsWith('crypto_rand '));
    expect(rand).toHaveLength(2);
    expect(rand[0]).not.toBe(rand[1]);
    // the shell a Go program exec'd from one of its later threads ran and read the clock and /dev/urandom
    expect(lines.filter((l) => /^exec_(date \d+|urandom [0-9a-f]{32})$/.test(l))).toHaveLength(2);
  });
});

describe('control: the same fixture built twice with --plain differs', () => {
  const run = builtPair('plain');

  it('the probe, the key and what `go run` printed all differ', async () => {
    const cmp = await compareTrees(artifactsOf(run.pair.a), artifactsOf(run.pair.b));
    expect(cmp.differ.sort()).toEqual(ARTIFACTS);
  });

  it("the host's accounting is seen: real CPU time, real start times, the CPU run B was on", () => {
    for (const p of [run.a, run.b]) expect(Number(p.values.get('getrusage.self.1.utime'))).toBeGreaterThan(0.005);
    expect(statField(run.a, 22)).not.toBe(statField(run.b, 22)); // starttime, in ticks since boot
    if (cpus().length > 1) expect(statusValue(run.b, 'Cpus_allowed_list')).toBe(String(HOSTILE.cpu));
  });

  it('the sanity checks hold plainly too', () => {
    expect(sanityFailures(new Map([['a', run.a]]))).toEqual([]);
    expect(sanityFailures(new Map([['b', run.b]]))).toEqual([]);
  });
});
