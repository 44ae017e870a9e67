/**
 * The rpm recipe with Debian's real rpmbuild: bad input is refused before
 * anything is built (one line, a distinct exit status per kind of fault,
 * nothing written outside the workspace); BuildRequires are checked against a
 * real rpm database and, on this Debian machine, against dpkg through a name
 * map; the RPM probe package (test/fixtures/rpm-probe), built twice in
 * different real conditions, is identical under the engine and differs with
 * the recipe's macros alone (--plain).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingBuildDepsError, RecipeError } from '../../src/recipes/errors.js';
import { prepareRpmBuild } from '../../src/recipes/rpm.js';
import { chooseDepChecker, parseDepMap, unmetBuildRequires } from '../../src/recipes/rpm-deps.js';
import { renderSpecTemplate } from '../../src/recipes/rpm-spec.js';
import { rpmChangelogDate } from '../../src/engine/source-date.js';
import { parseSrpmQuery, readSrpm, type Srpm } from '../../src/recipes/srpm.js';
import { SENSE } from '../../src/recipes/rpm-version.js';
// @ts-expect-error plain JavaScript module shared with the corpus benchmark
import { CONDITIONS } from '../../bench/lib/corpus.mjs';
// @ts-expect-error plain JavaScript module shared with the corpus benchmark
import { differingRpms, explainRpms, rpmBuildOnce, rpmDump } from '../../bench/lib/rpm-corpus.mjs';
import { requireCli, runCli } from '../helpers/cli.js';
import { freshDir, removeUnlessKept } from '../helpers/trees.js';
import { makeProbeSrpm, PROBE_NAME, PROBE_SPEC, probeTree } from './rpm-probe.js';

interface Run {
  ok: boolean;
  exit: number;
  message: string;
  stderr: string;
  logTail?: string;
  outDir: string;
  artifacts: string;
  rpms: Record<string, string>;
  others: Record<string, string>;
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => null,
    (e: unknown) => e,
  );
}

async function expectRecipeError(p: Promise<unknown>, code: string): Promise<RecipeError> {
  const err = await errorOf(p);
  expect(err, `expected a RecipeError ${code}`).toBeInstanceOf(RecipeError);
  expect((err as RecipeError).code, (err as Error).message).toBe(code);
  return err as RecipeError;
}

async function cli(args: string[]): Promise<{ exitCode: number; stderr: string; stdout: string }> {
  return runCli(['rpm', ...args, '--quiet']);
}

/** One line on stderr, the given status, no result directory. */
function expectRefused(r: { exitCode: number; stderr: string }, exit: number, out: string, pattern: RegExp): void {
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.exitCode, r.stderr).toBe(exit);
  expect(existsSync(out)).toBe(false);
}

describe('rpm recipe: bad input', () => {
  let dir: string;
  let good: { srpm: string; rpm: string };
  beforeAll(async () => {
    dir = await freshDir('rpm-bad');
    good = await makeProbeSrpm(path.join(dir, 'good'));
  });
  afterAll(async () => removeUnlessKept(dir));

  it('reads a good source package: name, version, spec, changelog date', async () => {
    const s = await readSrpm(good.srpm);
    expect(s).toMatchObject({ name: PROBE_NAME, version: '1.0', release: '1', epoch: null, specFile: `${PROBE_NAME}.spec`, arch: 'noarch' });
    expect(s.files.sort()).toEqual([`${PROBE_NAME}-1.0.tar.gz`, `${PROBE_NAME}.spec`]);
    expect(s.changelogTimes).toEqual([Date.UTC(2023, 10, 14, 12) / 1000]);
  });

  it('a .src.rpm that does not exist, and a file that is not an RPM', async () => {
    let e = await expectRecipeError(readSrpm(path.join(dir, 'nope-1.0-1.src.rpm')), 'RPM_SRPM_MISSING');
    expect(e.kind).toBe('bad-input');
    const junk = path.join(dir, 'junk-1.0-1.src.rpm');
    await writeFile(junk, 'x'.repeat(200));
    e = await expectRecipeError(readSrpm(junk), 'RPM_SRPM_CORRUPT');
    expect(e.message).toContain('no RPM lead magic');
  });

  it('a truncated .src.rpm is refused by its digests; the CLI says so in one line, exit 3', async () => {
    const cut = path.join(dir, 'cut', path.basename(good.srpm));
    await mkdir(path.dirname(cut));
    await writeFile(cut, await readFile(good.srpm));
    await truncate(cut, Math.floor((await stat(cut)).size * 0.8));
    const e = await expectRecipeError(readSrpm(cut), 'RPM_SRPM_CORRUPT');
    expect(e.message).toMatch(/digest check failed: .*BAD.*\(truncated or altered\?\)/);
    const out = path.join(dir, 'out-cut');
    expectRefused(await cli([cut, '--out', out]), 3, out, /^detbuild: detbuild-rpm-probe-1\.0-1\.src\.rpm: rpm's digest check failed/);
  });

  it('one altered byte in the payload is refused', async () => {
    const alt = path.join(dir, 'alt', path.basename(good.srpm));
    await mkdir(path.dirname(alt));
    const bytes = await readFile(good.srpm);
    bytes[bytes.length - 100]! ^= 0x01;
    await writeFile(alt, bytes);
    const e = await expectRecipeError(readSrpm(alt), 'RPM_SRPM_CORRUPT');
    expect(e.message).toMatch(/Payload SHA256 digest: BAD/);
  });

  it('a binary package is not a source package', async () => {
    const bin = path.join(dir, 'bin', `${PROBE_NAME}-1.0-1.src.rpm`);
    await mkdir(path.dirname(bin));
    await writeFile(bin, await readFile(good.rpm));
    await expectRecipeError(readSrpm(bin), 'RPM_NOT_SOURCE');
  });

  it('unsafe names in the payload and file names are refused', async () => {
    const base = 'N\tx\nE\t(none)\nV\t1\nR\t1\nA\tnoarch\nB\t1\nF\tx.spec\n';
    expect(() => parseSrpmQuery(`${base}F\t../../etc/passwd\n`, '/x-1-1.src.rpm')).toThrow(/unsafe file name in the payload: "..\/..\/etc\/passwd"/);
    expect(() => parseSrpmQuery(`${base}F\t-rf\n`, '/x-1-1.src.rpm')).toThrow(/unsafe file name/);
    expect(() => parseSrpmQuery(`${base}F\ty.spec\n`, '/x-1-1.src.rpm')).toThrow(/2 \.spec files/);
    await expectRecipeError(readSrpm(path.join(dir, '..evil.src.rpm')), 'RPM_SRPM_MALFORMED');
  });

  it('a spec rpm cannot parse: one line naming the line, exit 3', async () => {
    const tree = await probeTree(path.join(dir, 'unparsable'));
    const specFile = path.join(tree, PROBE_SPEC);
    await writeFile(specFile, (await readFile(specFile, 'utf8')).replace(/^Version:.*$/m, 'Version: 1.0 and more'));
    const out = path.join(dir, 'out-unparsable');
    expectRefused(await cli(['--spec', PROBE_SPEC, tree, '--out', out]), 3, out, /^detbuild: rpm_spec\/detbuild-rpm-probe\.spec\.in: line 5: Tag takes single token only: Version: 1\.0 and more$/);
  });

  it('@REL@ without a rel file, and a spec outside the tree, are refused before anything runs', async () => {
    const tree = await probeTree(path.join(dir, 'norel'));
    await execa('rm', [path.join(tree, 'rel')]);
    let out = path.join(dir, 'out-norel');
    expectRefused(await cli(['--spec', PROBE_SPEC, tree, '--out', out]), 3, out, /uses @REL@, but the source tree has no 'rel' file/);
    out = path.join(dir, 'out-outside');
    expectRefused(await cli(['--spec', '../x.spec', tree, '--out', out]), 3, out, /the spec must be a NAME\.spec or NAME\.spec\.in inside SRC_DIR/);
  });

  it('unmet BuildRequires on this Debian builder: one line naming each, exit 7; what is checked', async () => {
    const bad = await makeProbeSrpm(path.join(dir, 'deps'), {
      buildRequires: ['detbuild-no-such-package >= 2', 'gcc', 'make >= 99', '/bin/sh', '/nonexistent/tool', 'pkgconfig(zlib) >= 1.0', 'pkgconfig(detbuild-no-such-module)', '(gcc or clang)', 'coreutils'],
    });
    const map = path.join(dir, 'deps.map');
    await writeFile(map, '# test map: Fedora name -> Debian package\ngcc gcc\nmake make\ncoreutils coreutils\n');
    const err = await errorOf(prepareRpmBuild(bad.srpm, { deps: { depMapFile: map } }));
    expect(err).toBeInstanceOf(MissingBuildDepsError);
    const m = err as MissingBuildDepsError;
    expect(m.kind).toBe('failure');
    expect(m.missing.map((s) => s.replace(/ \(.*$/, ''))).toEqual(['(gcc or clang)', '/nonexistent/tool', 'detbuild-no-such-package >= 2', 'make >= 99', 'pkgconfig(detbuild-no-such-module)']);
    expect(m.missing).toContain('detbuild-no-such-package >= 2 (no Debian package mapped)');
    expect(m.missing.find((s) => s.startsWith('make'))).toMatch(/^make >= 99 \(make \S+ installed\)$/);
    // met: gcc and coreutils (mapped, installed), /bin/sh (exists), pkgconfig(zlib) >= 1.0 (pkg-config), rpmlib() (rpm's features)
    const out = path.join(dir, 'out-deps');
    expectRefused(await cli([bad.srpm, '--out', out, '--dep-map', map]), 7, out, /^detbuild: detbuild-rpm-probe: unmet BuildRequires: .*detbuild-no-such-package >= 2 \(no Debian package mapped\)/);
    // without a map nothing but files, pkg-config modules and rpmlib() can be met: refused rather than guessed
    const none = await errorOf(prepareRpmBuild(bad.srpm, { deps: { depMapFile: path.join(dir, 'empty.map') } }));
    expect(none).toBeInstanceOf(RecipeError);
    await writeFile(path.join(dir, 'empty.map'), '');
    const unmapped = (await errorOf(prepareRpmBuild(bad.srpm, { deps: { depMapFile: path.join(dir, 'empty.map') } }))) as MissingBuildDepsError;
    expect(unmapped.missing).toContain('gcc (no Debian package mapped)');
    expect(() => parseDepMap('gcc\n', 'm')).toThrow(/m:1: expected/);
  });

  it('BuildRequires against a real rpm database (an RPM-based builder)', async () => {
    const db = path.join(dir, 'rpmdb');
    await mkdir(db);
    await execa('rpm', ['--dbpath', db, '--initdb']);
    // the probe's binary package installed into this database only (it provides detbuild-rpm-probe = 1.0-1)
    await execa('rpm', ['--dbpath', db, '-i', '--justdb', '--nodeps', '--noscripts', good.rpm]);
    const checker = await chooseDepChecker({ rpmDbPath: db });
    expect(checker.kind).toBe('rpmdb');
    const srpm = (await readSrpm(good.srpm)) as Srpm;
    const dep = (name: string, flags = 0, version = '') => ({ name, flags, version });
    const verdict = await unmetBuildRequires(
      {
        ...srpm,
        requires: [
          dep(PROBE_NAME, SENSE.greater | SENSE.equal, '1.0'),
          dep(PROBE_NAME, SENSE.equal, '1.0-1'),
          dep(`/usr/share/${PROBE_NAME}/now`),
          dep('rpmlib(CompressedFileNames)', SENSE.less | SENSE.equal, '3.0.4-1'),
          dep(PROBE_NAME, SENSE.greater | SENSE.equal, '2.0'),
          dep('detbuild-no-such-package'),
          dep('/usr/share/no-such-file'),
        ],
        conflicts: [dep(PROBE_NAME, SENSE.less, '1.0'), dep(PROBE_NAME, SENSE.less, '2.0')],
      },
      checker,
    );
    expect(verdict).toEqual({
      unmet: [`${PROBE_NAME} >= 2.0 (installed: 1.0-1)`, 'detbuild-no-such-package', '/usr/share/no-such-file'],
      conflicts: [`${PROBE_NAME} < 2.0`],
    });
  });

  it('a %prep that writes outside the build tree fails in the sandbox: nothing on the host, exit 4', async () => {
    const victim = path.join(dir, 'victim');
    await mkdir(victim);
    const tree = await probeTree(path.join(dir, 'escape'), {
      prep: [`echo owned > ${victim}/written-by-prep || true`, 'echo owned > /etc/detbuild-written-by-prep || true', `cp probe.sh ${victim}/ || true`, `echo owned > ${victim}/final`],
    });
    const out = path.join(dir, 'out-escape');
    const r = await cli(['--spec', PROBE_SPEC, tree, '--out', out]);
    expectRefused(r, 4, out, /^detbuild: detbuild-rpm-probe-1\.0-1: the build command exited with status 1 \(log: .*out-escape\.failed\.log\)$/);
    expect(existsSync(path.join(victim, 'written-by-prep'))).toBe(false);
    expect(existsSync(path.join(victim, 'probe.sh'))).toBe(false);
    expect(existsSync('/etc/detbuild-written-by-prep')).toBe(false);
    const log = await readFile(`${out}.failed.log`, 'utf8');
    expect(log).toMatch(/Bad exit status from .* \(%prep\)/);
    expect(log).toMatch(/Read-only file system/);
  });
});

describe('rpm recipe: spec templates', () => {
  it('renders what the Qubes builder renders', () => {
    const t = 'Version: @VERSION@\nRelease: @REL@%{?dist}\nOther: @VERSION1@ @REL1@ @BACKEND_VMM@\n%changelog\n@CHANGELOG@\n';
    expect(renderSpecTemplate(t, { versions: ['4.3.1', '2.0'], rels: ['3', '4'], backendVmm: 'xen', changelog: '* Mon Apr 07 2025 X <x@y> - 1\n- one' }, 't')).toBe(
      'Version: 4.3.1\nRelease: 3%{?dist}\nOther: 2.0 4 xen\n%changelog\n* Mon Apr 07 2025 X <x@y> - 1\n- one\n',
    );
    expect(rpmChangelogDate('%changelog\n* Tue Nov 14 2023 a - 1\n- x\n* Wed Nov 25 2026 b - 2\n')).toBe(Date.UTC(2026, 10, 25, 12) / 1000);
    expect(rpmChangelogDate('Name: x\n')).toBeNull();
  });
});

describe('rpm recipe: the probe package twice in different conditions', () => {
  let dir: string;
  let tree: string;
  const runs: Record<string, Run> = {};

  beforeAll(async () => {
    dir = await freshDir('rpm-probe');
    tree = await probeTree(path.join(dir, 'src'));
    for (const mode of ['deterministic', 'plain'] as const) {
      for (const which of ['A', 'B'] as const) {
        if (which === 'B') await new Promise((r) => setTimeout(r, 2000));
        runs[`${mode}-${which}`] = (await rpmBuildOnce({ spec: PROBE_SPEC, dir: tree }, mode, CONDITIONS[which], path.join(dir, `${mode}-${which}`))) as Run;
      }
    }
  });
  afterAll(async () => removeUnlessKept(dir));

  it('every build succeeds and returns the .rpm, the rebuilt .src.rpm and the .buildinfo', () => {
    for (const [name, r] of Object.entries(runs)) {
      expect(r.ok, `${name}: ${r.message}\n${r.logTail ?? ''}`).toBe(true);
      expect(Object.keys(r.rpms).sort()).toEqual([`${PROBE_NAME}-1.0-1.noarch.rpm`, `${PROBE_NAME}-1.0-1.src.rpm`]);
      expect(Object.keys(r.others)).toEqual([`${PROBE_NAME}-1.0-1.x86_64.buildinfo`]);
    }
  });

  it('under the engine both builds are identical: sha256, rpm -qp --dump, the .buildinfo', async () => {
    const a = runs['deterministic-A']!;
    const b = runs['deterministic-B']!;
    expect(differingRpms(a, b)).toEqual([]);
    expect(a.others).toEqual(b.others);
    for (const name of Object.keys(a.rpms)) expect(await rpmDump(path.join(b.artifacts, name))).toBe(await rpmDump(path.join(a.artifacts, name)));
  });

  it("with the recipe's macros but no engine (--plain) the builds differ: the payload", async () => {
    const a = runs['plain-A']!;
    const b = runs['plain-B']!;
    expect(differingRpms(a, b)).toContain(`${PROBE_NAME}-1.0-1.noarch.rpm`);
    const why = await explainRpms(a, b);
    console.info(`rpm probe, --plain twice: ${why}`);
    expect(why).toMatch(/Filedigests/);
  });

  it('the engine build saw the logical clock, one CPU, the fixed host, UTC and umask 022; the macros set the header', async () => {
    const rpm = path.join(runs['deterministic-A']!.artifacts, `${PROBE_NAME}-1.0-1.noarch.rpm`);
    const x = path.join(dir, 'x');
    await mkdir(x);
    await execa('sh', ['-c', `rpm2cpio "$1" | cpio -idm --quiet`, 'sh', rpm], { cwd: x });
    const read = (f: string) => readFile(path.join(x, 'usr', 'share', PROBE_NAME, f), 'utf8').then((s) => s.trim());
    const epoch = Date.UTC(2023, 10, 14, 12) / 1000;
    const now = Number(await read('now'));
    expect(now).toBeGreaterThanOrEqual(epoch);
    expect(now).toBeLessThan(epoch + 3600);
    expect(await read('cpus')).toBe('1');
    expect(await read('host')).toBe('detbuild');
    expect(await read('zone')).toBe('UTC');
    expect(await read('umask')).toBe('0022');
    const header = await execa('rpm', ['-qp', '--qf', '%{BUILDTIME} %{BUILDHOST} [%{FILEMTIMES} ]', rpm]);
    expect(header.stdout.trim().split(/\s+/)).toEqual([String(epoch), 'detbuild', ...Array(7).fill(String(epoch))]);
  });

  it('the engine alone, without any of the macros: plain rpmbuild -ra of the .src.rpm under `detbuild build` twice, identical', async () => {
    // the package the engine rebuilt, alone in a directory: rpmbuild as a packager would run it, no --define but _topdir
    const src = path.join(dir, 'bare');
    await mkdir(src);
    const srpm = `${PROBE_NAME}-1.0-1.src.rpm`;
    await writeFile(path.join(src, srpm), await readFile(path.join(runs['deterministic-A']!.artifacts, srpm)));
    const command = `rpmbuild -ra --nodeps --define "_topdir $PWD/rb" ${srpm} && cp rb/RPMS/*/*.rpm "$DETBUILD_OUT/"`;
    const [a, b] = (await Promise.all(
      (['A', 'B'] as const).map(async (w) => {
        if (w === 'B') await new Promise((r) => setTimeout(r, 1500));
        const out = path.join(dir, `bare-${w}`);
        const cond = CONDITIONS[w];
        const r = await execa('sh', ['-c', `umask ${cond.umask} && exec taskset -c ${cond.cpu} "$@"`, 'sh', process.execPath, requireCli(), 'build', src, '--command', command, '--out', out, '--quiet'], { reject: false, env: { ...process.env, ...cond.env } });
        expect(r.exitCode, r.stderr).toBe(0);
        return path.join(out, 'artifacts', `${PROBE_NAME}-1.0-1.noarch.rpm`);
      }),
    )) as [string, string];
    expect(await readFile(b)).toEqual(await readFile(a));
    // not the epoch (here the default one: a directory holding only a .src.rpm carries no date): the logical clock's time when rpm read it
    const { epoch: bareEpoch } = JSON.parse(await readFile(path.join(dir, 'bare-A', 'manifest.json'), 'utf8')) as { epoch: number };
    const [buildTime, host] = (await execa('rpm', ['-qp', '--qf', '%{BUILDTIME} %{BUILDHOST}', a])).stdout.split(' ');
    expect(Number(buildTime)).toBeGreaterThan(bareEpoch);
    expect(host).toBe('detbuild');
  });

  it('the .buildinfo is mock\'s rpmbuildinfo format and lists the packages with their checksums', async () => {
    const r = runs['deterministic-A']!;
    const text = await readFile(path.join(r.artifacts, `${PROBE_NAME}-1.0-1.x86_64.buildinfo`), 'utf8');
    expect(text).toMatch(/^Format: 0\.2-rpm\nBuild-Architecture: x86_64\nSource: detbuild-rpm-probe\nEpoch: 0\nVersion: 1\.0\nRelease: 1\nArchitecture: noarch\nBinary: detbuild-rpm-probe\nBuild-Origin: \S+\nBuild-Date: .*\nBuild-Path: \/build\/src\/rpmbuild\/BUILD\n/);
    expect(text).toMatch(/\nInstalled-Build-Depends:\n( \S+\n)+Environment:\n/);
    expect(text).toContain(`\n SOURCE_DATE_EPOCH="${Date.UTC(2023, 10, 14, 12) / 1000}"\n`);
    for (const [name, sha] of Object.entries(r.rpms)) expect(text).toMatch(new RegExp(` ${sha} \\d+ ${name.replace(/[.+]/g, '\\$&')}\\n`));
  });
});
