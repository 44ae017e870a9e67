/**
 * The builder template regenerated from one lock file, for real: mmdebstrap
 * under the engine, twice, under different real conditions of the caller
 * (another CPU, load, TZ/locale/umask, a later wall clock): the root tarball
 * and the ext4 image must be byte-identical. The lock is Debian's essential
 * set plus a probe package whose postinst embeds the time and randomness it
 * sees. The controls (the same sources run plainly: without SOURCE_DATE_EPOCH,
 * and with it) must differ, a changed lock must change the image, and a
 * version the archive does not serve must be a clear error naming the package.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  TemplateError,
  fetchTemplateSources,
  lockSha256,
  makeLock,
  resolveClosure,
  serializeLock,
  type TemplateLock,
} from '../../src/recipes/template/index.js';
import { requireCli, runCli } from '../helpers/cli.js';
import { HOSTILE, NORMAL, describeRun, runPair, runUnder, type RunRecord } from '../helpers/conditions.js';
import { freshDir, removeUnlessKept } from '../helpers/trees.js';
import { PROBE, buildProbeDeb, cacheDir, minimalLock, type MinimalLock } from './minimal-lock.js';

interface Manifest {
  artifacts: { path: string; sha256: string; size: number }[];
}

async function hashes(run: RunRecord): Promise<Record<string, string>> {
  const m = JSON.parse(await readFile(path.join(run.outDir, 'manifest.json'), 'utf8')) as Manifest;
  return Object.fromEntries(m.artifacts.map((a) => [a.path, a.sha256]));
}

async function fetchInto(root: string, label: string, lock: TemplateLock): Promise<string> {
  const r = await fetchTemplateSources(lock, { sourceDir: path.join(root, `${label}-src`), workDir: path.join(root, `${label}-work`), cacheDir: cacheDir() });
  return r.sourceDir;
}

describe('builder template regeneration (minimal lock: the essential set)', () => {
  let root: string;
  let minimal: MinimalLock;
  let src: string;
  let engineA: Record<string, string>;

  beforeAll(async () => {
    requireCli();
    root = await freshDir('template');
    minimal = await minimalLock(root);
    // the essential set plus a package whose postinst embeds time and randomness
    await buildProbeDeb(cacheDir(), root);
    minimal.lock = makeLock([...minimal.lock.packages, PROBE], minimal.lock);
    src = await fetchInto(root, 'minimal', minimal.lock);
  });

  afterAll(async () => {
    if (root) await removeUnlessKept(root);
  });

  it('gives the same root tarball and ext4 image under different real conditions', async () => {
    const pair = await runPair({ runner: 'engine', sourceDir: src }, { a: NORMAL, b: HOSTILE, gapMs: 2_000 });
    expect(pair.a.exitCode, describeRun(pair.a)).toBe(0);
    expect(pair.b.exitCode, describeRun(pair.b)).toBe(0);
    const [a, b] = [await hashes(pair.a), await hashes(pair.b)];
    console.info(`template under the engine: A ${(pair.a.durationMs / 1000).toFixed(1)} s, B ${(pair.b.durationMs / 1000).toFixed(1)} s; root.img ${a['root.img']}`);
    expect(a['root.tar']).toMatch(/^[0-9a-f]{64}$/);
    expect(a['root.img']).toMatch(/^[0-9a-f]{64}$/);
    expect(b).toEqual(a);
    engineA = a;
    const probe = await execa('tar', ['-xOf', path.join(pair.a.outDir, 'artifacts', 'root.tar'), './var/lib/detbuild-probe/state']);
    expect(probe.stdout.split('\n')).toHaveLength(3);
    // the image really is the lock's package set, and a sound ext4 file system
    const installed = await readFile(path.join(pair.a.outDir, 'artifacts', 'packages.txt'), 'utf8');
    expect(installed.trim().split('\n')).toHaveLength(minimal.lock.packages.length);
    const fsck = await execa('e2fsck', ['-fn', path.join(pair.a.outDir, 'artifacts', 'root.img')], { reject: false });
    expect(fsck.exitCode, fsck.stdout + fsck.stderr).toBe(0);
    const dumpe2fs = await execa('dumpe2fs', ['-h', path.join(pair.a.outDir, 'artifacts', 'root.img')], { reject: false, env: { TZ: 'UTC' } });
    expect(dumpe2fs.stdout).toMatch(/Filesystem features:.*extent/);
    // every time stamp of the superblock is the epoch, not the logical clock of the moment
    // (which other runs may reach after a different number of steps)
    const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(dumpe2fs.stdout)?.[1];
    expect(field('Filesystem created')).toBe(new Date(minimal.lock.epoch * 1000).toUTCString().replace(/^(\w+), (\d+) (\w+) (\d+) (\S+) GMT$/, (_m, d, day, mon, y, t) => `${d} ${mon} ${String(Number(day)).padStart(2, ' ')} ${t} ${y}`));
    expect(field('Last write time')).toBe(field('Filesystem created'));
    await removeUnlessKept(pair.root);
  });

  it('control: plain mmdebstrap (no engine, no SOURCE_DATE_EPOCH) gives different bytes each time', async () => {
    const saved = process.env.SOURCE_DATE_EPOCH;
    delete process.env.SOURCE_DATE_EPOCH;
    try {
      const pair = await runPair({ runner: 'plain', sourceDir: src }, { a: NORMAL, b: NORMAL, gapMs: 2_000 });
      expect(pair.a.exitCode, describeRun(pair.a)).toBe(0);
      expect(pair.b.exitCode, describeRun(pair.b)).toBe(0);
      const [a, b] = [await hashes(pair.a), await hashes(pair.b)];
      expect(a['root.tar']).not.toBe(b['root.tar']);
      expect(a['root.img']).not.toBe(b['root.img']);
      await removeUnlessKept(pair.root);
    } finally {
      if (saved !== undefined) process.env.SOURCE_DATE_EPOCH = saved;
    }
  });

  it('maintainer scripts: SOURCE_DATE_EPOCH alone does not make the probe\'s postinst reproducible, the engine does', async () => {
    expect(engineA, 'the determinism test ran first').toBeDefined();
    const saved = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = String(minimal.lock.epoch);
    try {
      const pair = await runPair({ runner: 'plain', sourceDir: src }, { a: NORMAL, b: NORMAL, gapMs: 1_000 });
      expect(pair.a.exitCode, describeRun(pair.a)).toBe(0);
      expect(pair.b.exitCode, describeRun(pair.b)).toBe(0);
      const state = async (run: RunRecord) => {
        const r = await execa('tar', ['-xOf', path.join(run.outDir, 'artifacts', 'root.tar'), './var/lib/detbuild-probe/state']);
        return r.stdout;
      };
      const [a, b] = [await state(pair.a), await state(pair.b)];
      expect(a).not.toBe(b);
      expect((await hashes(pair.a))['root.tar']).not.toBe((await hashes(pair.b))['root.tar']);
      await removeUnlessKept(pair.root);
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
  });

  it('a changed lock file (one more package) changes the image', async () => {
    expect(engineA, 'the determinism test ran first').toBeDefined();
    const extra = (await resolveClosure(minimal.apt, ['hello'])).filter((p) => p.name === 'hello');
    expect(extra).toHaveLength(1);
    const changed = makeLock([...minimal.lock.packages, ...extra], minimal.lock);
    expect(lockSha256(changed)).not.toBe(lockSha256(minimal.lock));
    const run = await runUnder({ runner: 'engine', sourceDir: await fetchInto(root, 'changed', changed) }, NORMAL, path.join(root, 'changed-out'));
    expect(run.exitCode, describeRun(run)).toBe(0);
    const h = await hashes(run);
    expect(h['root.tar']).not.toBe(engineA['root.tar']);
    expect(h['root.img']).not.toBe(engineA['root.img']);
    expect(await readFile(path.join(run.outDir, 'artifacts', 'packages.txt'), 'utf8')).toMatch(/^hello\t/m);
  });

  it('a version the archive does not serve is a typed error naming the package', async () => {
    const bogus = makeLock(
      minimal.lock.packages.map((p) => (p.name === 'bash' ? { ...p, version: '0.0-detbuild-nonexistent' } : p)),
      minimal.lock,
    );
    const err = await fetchInto(root, 'bogus', bogus).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as TemplateError).code).toBe('TEMPLATE_VERSION_UNAVAILABLE');
    expect((err as TemplateError).packages).toEqual(['bash=0.0-detbuild-nonexistent']);
    expect((err as Error).message).toContain('bash=0.0-detbuild-nonexistent');

    // the same through the CLI: one line, exit status 3 (bad input)
    const lockFile = path.join(root, 'bogus.lock.json');
    await writeFile(lockFile, serializeLock(bogus));
    const cli = await runCli(['template', 'build', lockFile, '-o', path.join(root, 'bogus-out'), '--cache', cacheDir()]);
    expect(cli.exitCode).toBe(3);
    const lastLine = cli.stderr.trim().split('\n').at(-1)!;
    expect(lastLine).toMatch(/^detbuild: the archive no longer serves the pinned version: bash=0\.0-detbuild-nonexistent/);
  });
});
