/**
 * The dpkg recipe: bad input is refused with typed errors before anything is
 * built; a real source package (made here with dpkg-source -b) goes through
 * dpkg-buildpackage under fakeroot in the sandbox, and built twice in
 * different real conditions it is identical under the engine and differs
 * plainly.
 */
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import winston from 'winston';
import { prepareDpkgBuild, splitDependencies } from '../../src/recipes/dpkg.js';
import { MissingBuildDepsError, RecipeError } from '../../src/recipes/errors.js';
import { parseDscText } from '../../src/recipes/dsc.js';
// @ts-expect-error plain JavaScript module shared with the corpus benchmark
import { CONDITIONS, buildOnce, differingDebs, sameArtifacts } from '../../bench/lib/corpus.mjs';
import { runCli } from '../helpers/cli.js';
import { freshDir, removeUnlessKept } from '../helpers/trees.js';
import { makeProbePackage } from './probe-package.js';
import type { DebRun as Run } from '../helpers/corpus-runs.js';

async function expectRecipeError(p: Promise<unknown>, code: string): Promise<RecipeError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected a RecipeError ${code}`).toBeInstanceOf(RecipeError);
  expect((err as RecipeError).code).toBe(code);
  return err as RecipeError;
}

describe('dpkg recipe: bad input', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await freshDir('dpkg-bad');
  });
  afterAll(async () => removeUnlessKept(dir));

  it('a .dsc that does not exist', async () => {
    const e = await expectRecipeError(prepareDpkgBuild(path.join(dir, 'nope_1.0.dsc')), 'DSC_MISSING');
    expect(e.message).toContain('nope_1.0.dsc');
    expect(e.kind).toBe('bad-input');
  });

  it('a file that is not a .dsc', async () => {
    const f = path.join(dir, 'junk.dsc');
    await writeFile(f, 'this is not\na control file\n');
    await expectRecipeError(prepareDpkgBuild(f), 'DSC_MALFORMED');
    await writeFile(f, 'Source: foo\nVersion: 1.0\n');
    const e = await expectRecipeError(prepareDpkgBuild(f), 'DSC_MALFORMED');
    expect(e.message).toContain('Format');
  });

  it('file names that would leave the directory are refused', async () => {
    const f = path.join(dir, 'evil_1.0.dsc');
    await writeFile(f, `Format: 3.0 (native)\nSource: evil\nVersion: 1.0\nFiles:\n d41d8cd98f00b204e9800998ecf8427e 0 ../../etc/passwd\n`);
    const e = await expectRecipeError(prepareDpkgBuild(f), 'DSC_MALFORMED');
    expect(e.message).toContain('unsafe file name');
  });

  it('a listed file that is missing, or changed', async () => {
    const d = path.join(dir, 'files');
    await mkdir(d);
    const dsc = await makeProbePackage(d);
    const tarball = path.join(d, 'detbuild-probe_1.0.tar.xz');
    const saved = await readFile(tarball);
    await appendFile(tarball, 'x');
    let e = await expectRecipeError(prepareDpkgBuild(dsc), 'DSC_FILE_CORRUPT');
    expect(e.message).toContain('detbuild-probe_1.0.tar.xz');
    await rm(tarball);
    e = await expectRecipeError(prepareDpkgBuild(dsc), 'DSC_FILE_MISSING');
    expect(e.message).toContain('detbuild-probe_1.0.tar.xz');
    await writeFile(tarball, saved);
  });

  it('missing build dependencies are named', async () => {
    const d = path.join(dir, 'deps');
    await mkdir(d);
    const dsc = await makeProbePackage(d, { buildDepends: 'detbuild-no-such-package (>= 2), coreutils, detbuild-nor-this | detbuild-nor-that' });
    const err = await prepareDpkgBuild(dsc).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MissingBuildDepsError);
    const m = err as MissingBuildDepsError;
    expect(m.missing).toEqual(['detbuild-no-such-package (>= 2)', 'detbuild-nor-this | detbuild-nor-that']);
    expect(m.kind).toBe('failure');
    expect(m.message).toContain('detbuild-no-such-package (>= 2)');
  });

  it('a 3.0 (quilt) package: the date and the build dependencies come from its debian tarball', async () => {
    const d = path.join(dir, 'quilt');
    await mkdir(d);
    const dsc = await makeProbePackage(d, { format: 'quilt', buildDepends: 'detbuild-no-such-package, coreutils' });
    expect(await readFile(dsc, 'utf8')).toContain('Format: 3.0 (quilt)');
    const err = await prepareDpkgBuild(dsc).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MissingBuildDepsError);
    expect((err as MissingBuildDepsError).missing).toEqual(['detbuild-no-such-package']);
    const met = path.join(dir, 'quilt-met');
    await mkdir(met);
    const lines: string[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) });
    const logger = winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
    const build = await prepareDpkgBuild(await makeProbePackage(met, { format: 'quilt', buildDepends: 'coreutils' }), { logger });
    try {
      // only the debian tarball was opened, not the upstream one
      expect(lines.join('')).toContain('"from":"debian tarball"');
      // the changelog's date: Tue, 14 Nov 2023 22:13:20 +0000
      expect(build.spec.epoch).toBe(1700000000);
      expect(build.spec.origin?.epochFrom).toBe('debian/changelog');
    } finally {
      await build.cleanup();
    }
  });

  it('the CLI prints one line and exits non-zero', async () => {
    const missing = await runCli(['deb', path.join(dir, 'nope_1.0.dsc'), '--out', path.join(dir, 'o1')]);
    expect(missing.exitCode).toBe(3);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/^detbuild: cannot read the \.dsc .*nope_1\.0\.dsc/);
    const deps = await runCli(['deb', path.join(dir, 'deps', 'detbuild-probe_1.0.dsc'), '--out', path.join(dir, 'o2')]);
    expect(deps.exitCode).toBe(7);
    expect(deps.stderr.trim().split('\n')).toHaveLength(1);
    expect(deps.stderr).toContain('missing build dependencies: detbuild-no-such-package (>= 2)');
    const usage = await runCli(['deb', '--out', path.join(dir, 'o3')]);
    expect(usage.exitCode).toBe(2);
  });
});

describe('dpkg recipe: parsing', () => {
  it('splits dpkg-checkbuilddeps lists', () => {
    expect(splitDependencies('debhelper-compat (= 13) libfoo-dev [amd64] a | b (>> 1) c:any')).toEqual([
      'debhelper-compat (= 13)',
      'libfoo-dev [amd64]',
      'a | b (>> 1)',
      'c:any',
    ]);
  });

  it('reads a clearsigned .dsc', () => {
    const text = `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nFormat: 1.0\nSource: x\nVersion: 1-1\nFiles:\n 0123 5 x_1.orig.tar.gz\n\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n`;
    expect(parseDscText(text, 't')).toMatchObject({ Source: 'x', Version: '1-1', Files: '\n0123 5 x_1.orig.tar.gz' });
  });
});

describe('dpkg recipe: a real source package, fakeroot, twice in different conditions', () => {
  let dir: string;
  let dsc: string;
  const runs: Record<string, Run> = {};

  beforeAll(async () => {
    dir = await freshDir('dpkg-probe');
    dsc = await makeProbePackage(dir);
    for (const mode of ['deterministic', 'plain'] as const) {
      for (const which of ['A', 'B'] as const) {
        if (which === 'B') await new Promise((r) => setTimeout(r, 2000));
        runs[`${mode}-${which}`] = (await buildOnce(dsc, mode, CONDITIONS[which], path.join(dir, `${mode}-${which}`))) as Run;
      }
    }
  });
  afterAll(async () => removeUnlessKept(dir));

  it('every build succeeds and returns the .deb, .buildinfo and .changes', () => {
    for (const [name, r] of Object.entries(runs)) {
      expect(r.ok, `${name}: ${r.message}\n${r.logTail ?? ''}`).toBe(true);
      expect(Object.keys(r.debs)).toEqual(['detbuild-probe_1.0_all.deb']);
      expect(Object.keys(r.others).sort()).toEqual(['detbuild-probe_1.0_amd64.buildinfo', 'detbuild-probe_1.0_amd64.changes']);
    }
  });

  it('binary-targets runs under fakeroot and the files belong to root', async () => {
    const r = runs['deterministic-A']!;
    const log = await readFile(path.join(r.outDir, 'build.log'), 'utf8');
    expect(log).toContain('fakeroot debian/rules binary');
    const listing = await execa('dpkg-deb', ['-c', path.join(r.outDir, 'artifacts', 'detbuild-probe_1.0_all.deb')]);
    const owners = new Set(listing.stdout.trim().split('\n').map((l) => l.split(/\s+/)[1]));
    expect([...owners]).toEqual(['root/root']);
  });

  it('under the engine both builds are identical, .buildinfo and .changes included', () => {
    const a = runs['deterministic-A']!;
    const b = runs['deterministic-B']!;
    expect(differingDebs(a, b)).toEqual([]);
    expect(sameArtifacts(a, b)).toBe(true);
  });

  it('plainly they differ (the control: the conditions really differ)', () => {
    expect(differingDebs(runs['plain-A']!, runs['plain-B']!)).toEqual(['detbuild-probe_1.0_all.deb']);
  });

  it('the engine build saw the logical clock, one CPU, UTC and umask 022', async () => {
    const x = path.join(dir, 'x');
    await execa('dpkg-deb', ['-x', path.join(runs['deterministic-A']!.outDir, 'artifacts', 'detbuild-probe_1.0_all.deb'), x]);
    const read = (f: string) => readFile(path.join(x, 'usr', 'share', 'detbuild-probe', f), 'utf8').then((s) => s.trim());
    const now = Number(await read('now'));
    expect(now).toBeGreaterThanOrEqual(1_700_000_000);
    expect(now).toBeLessThan(1_700_000_000 + 3600);
    expect(await read('cpus')).toBe('1');
    expect(await read('local-date')).toMatch(/UTC$/);
    expect(await read('umask')).toBe('0022');
  });
});
