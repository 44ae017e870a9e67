/** The environment record carried in record frames: collected for real, sealed, rendered, compared. */
import { appendFile, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { toBuildinfo } from '../../src/record/buildinfo.js';
import { canonicalJson } from '../../src/record/canonical.js';
import { collectEnvironmentRecord, makeRecord, recordIsSealed } from '../../src/record/collect.js';
import { compareRecords } from '../../src/record/compare.js';
import { toInTotoStatement } from '../../src/record/intoto.js';
import { parseOsRelease } from '../../src/record/os-release.js';
import { parseDpkgQuery, parseRpmQuery } from '../../src/record/packages.js';
import { collectToolchain } from '../../src/record/toolchain.js';
import type { Manifest } from '../../src/engine/types.js';

const build = { mode: 'deterministic' as const, command: 'make', epoch: 1700000000, seed: '0123456789abcdef', timeStepNs: '1000000000', sourceHash: 'ab'.repeat(32) };

describe('environment record', () => {
  it('is collected from this machine: OS release, kernel, every installed package, toolchain, engine', async () => {
    const r = await collectEnvironmentRecord(build);
    expect(r.format).toBe('detbuild-record/1');
    expect(r.environment.osRelease.ID).toBeTruthy();
    expect(r.environment.kernel.release).toMatch(/\d/);
    expect(r.environment.packageManager).toBe('dpkg');
    expect(r.environment.packages.length).toBeGreaterThan(50);
    expect(r.environment.packages.find((p) => p.name === 'dpkg')?.version).toMatch(/\d/);
    expect(r.environment.toolchain.gcc).toMatch(/gcc/);
    expect(r.environment.toolchain.bwrap).toMatch(/bubblewrap/);
    expect(r.environment.engine).toEqual({ name: 'qubes-detbuild', version: expect.stringMatching(/\d/) });
    expect(r.build).toEqual(build);
    expect(recordIsSealed(r)).toBe(true);
  });

  it('asks each tool its version once per tool file: a changed or relinked tool is asked again', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'detbuild-toolchain-'));
    try {
      const bin = path.join(dir, 'bin');
      const asked = path.join(dir, 'asked');
      const cacheFile = path.join(dir, 'cache', 'toolchain.json');
      await appendFile(asked, '');
      const tool = (version: string) => `#!/bin/sh\necho "$0" >> ${asked}\necho "gcc (fake) ${version}"\n`;
      await mkdir(bin);
      await writeFile(path.join(bin, 'gcc'), tool('1.0'));
      await chmod(path.join(bin, 'gcc'), 0o755);
      const opts = { path: bin, cacheFile };
      const first = await collectToolchain(opts);
      expect(first.gcc).toBe('gcc (fake) 1.0');
      expect(first.javac).toBeNull(); // not on this PATH
      expect(await collectToolchain(opts)).toEqual(first);
      expect((await readFile(asked, 'utf8')).trim().split('\n')).toHaveLength(1);
      // replaced by another version (another size, another inode): asked again
      await rm(path.join(bin, 'gcc'));
      await writeFile(path.join(bin, 'gcc'), tool('2.0.1'));
      await chmod(path.join(bin, 'gcc'), 0o755);
      expect((await collectToolchain(opts)).gcc).toBe('gcc (fake) 2.0.1');
      expect((await readFile(asked, 'utf8')).trim().split('\n')).toHaveLength(2);
      // without a cache: asked every time
      await collectToolchain({ path: bin, cacheFile: null });
      expect((await readFile(asked, 'utf8')).trim().split('\n')).toHaveLength(3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('has a hash over all of it: any change shows, and the environment hash ignores build parameters', async () => {
    const r = await collectEnvironmentRecord(build);
    const other = makeRecord(r.environment, { ...build, seed: 'fedcba9876543210' });
    expect(other.environmentSha256).toBe(r.environmentSha256);
    expect(other.sha256).not.toBe(r.sha256);
    const tampered = { ...r, environment: { ...r.environment, kernel: { ...r.environment.kernel, release: '9.9.9' } } };
    expect(recordIsSealed(tampered)).toBe(false);
  });

  it('tells a rebuild in a different environment by comparing records', async () => {
    const a = await collectEnvironmentRecord(build);
    const pkgs = a.environment.packages.map((p) => (p.name === 'dpkg' ? { ...p, version: `${p.version}+evil` } : p));
    const b = makeRecord({ ...a.environment, packages: pkgs, kernel: { ...a.environment.kernel, release: '6.6.6' } }, build);
    const diff = compareRecords(a, b).map((d) => d.field);
    expect(diff).toContain('kernel.release');
    expect(diff.some((f) => f.startsWith('packages.dpkg:'))).toBe(true);
    expect(compareRecords(a, a)).toEqual([]);
  });

  it('renders as a Debian .buildinfo and as an in-toto SLSA provenance statement', async () => {
    const r = await collectEnvironmentRecord(build);
    const manifest: Manifest = {
      format: 'detbuild-manifest/1', engineVersion: '0.1.0', mode: 'deterministic', epoch: build.epoch, seed: build.seed,
      timeStepNs: build.timeStepNs, command: 'make', sourceHash: build.sourceHash, artifacts: [{ path: 'out/a', size: 3, sha256: 'cd'.repeat(32) }],
    };
    const text = toBuildinfo(r, manifest.artifacts);
    expect(text).toMatch(/^Format: 1\.0$/m);
    expect(text).toMatch(/^Installed-Build-Depends:$/m);
    expect(text).toMatch(/^ dpkg \(= [^)]+\),$/m);
    expect(text).toMatch(/^ SOURCE_DATE_EPOCH="1700000000"$/m);
    expect(text).toMatch(new RegExp(`^ ${'cd'.repeat(32)} 3 out/a$`, 'm'));
    expect(text).toMatch(new RegExp(`^X-Detbuild-Record-Sha256: ${r.sha256}$`, 'm'));
    for (const line of text.trimEnd().split('\n')) expect(line).toMatch(/^([A-Za-z0-9-]+: .+|[A-Za-z0-9-]+:| \S.*)$/);
    const st = toInTotoStatement(r, manifest);
    expect(st._type).toBe('https://in-toto.io/Statement/v1');
    expect(st.predicateType).toBe('https://slsa.dev/provenance/v1');
    expect(st.subject).toEqual([{ name: 'out/a', digest: { sha256: 'cd'.repeat(32) } }]);
    expect(st.predicate.buildDefinition.resolvedDependencies.some((d) => d.uri?.startsWith('pkg:deb/debian/dpkg@'))).toBe(true);
  });

  it('parses os-release, dpkg-query and rpm output', () => {
    expect(parseOsRelease('ID=debian\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n# c\nX=\'a b\'\nBAD LINE\n')).toEqual({ ID: 'debian', PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)', X: 'a b' });
    expect(parseDpkgQuery('ii \tzlib1g\t1:1.2.13\tamd64\nrc \told\t1.0\tamd64\nii \tbash\t5.2\tamd64\n')).toEqual([
      { name: 'bash', version: '5.2', arch: 'amd64' },
      { name: 'zlib1g', version: '1:1.2.13', arch: 'amd64' },
    ]);
    expect(parseRpmQuery('bash\t0:5.2-1.fc39\tx86_64\nzlib\t1:1.2-3\tx86_64\n')).toEqual([
      { name: 'bash', version: '5.2-1.fc39', arch: 'x86_64' },
      { name: 'zlib', version: '1:1.2-3', arch: 'x86_64' },
    ]);
  });

  it('hashes a canonical serialisation (key order does not matter)', () => {
    expect(canonicalJson({ b: 1, a: [{ d: null, c: 'x' }] })).toBe('{"a":[{"c":"x","d":null}],"b":1}');
  });
});
