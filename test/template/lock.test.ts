/** The lock file format and the pieces of the recipe that are pure functions. */
import { describe, expect, it } from 'vitest';
import {
  TemplateError,
  buildScript,
  defaultEpoch,
  lockArchives,
  closureOf,
  derivedUuid,
  lockSha256,
  parseDeb822Sources,
  parseLock,
  parseOneLineSources,
  parseStatusDeps,
  serializeLock,
} from '../../src/recipes/template/index.js';
import { SAMPLE_LOCK } from './sample-lock.js';

const LOCK = SAMPLE_LOCK;

describe('lock file', () => {
  it('round-trips through its text, sorted, one package per line', () => {
    const text = serializeLock(LOCK);
    const back = parseLock(JSON.parse(text));
    expect(back.packages.map((p) => p.name)).toEqual(['bsdutils', 'debconf', 'libc6']);
    expect(serializeLock(back)).toBe(text);
    expect(text.split('\n').filter((l) => l.includes('"name"'))).toHaveLength(3);
    expect(lockSha256(back)).toBe(lockSha256(LOCK));
  });

  it('has a hash that follows every field', () => {
    const base = lockSha256(LOCK);
    expect(lockSha256({ ...LOCK, epoch: LOCK.epoch + 1 })).not.toBe(base);
    expect(lockSha256({ ...LOCK, packages: LOCK.packages.slice(1) })).not.toBe(base);
    expect(lockSha256({ ...LOCK, packages: [{ ...LOCK.packages[0]!, version: '2.36-9+deb12u13' }, ...LOCK.packages.slice(1)] })).not.toBe(base);
    // order of the packages in the file is not part of it
    expect(lockSha256({ ...LOCK, packages: [...LOCK.packages].reverse() })).toBe(base);
  });

  it.each([
    ['a package twice', { ...LOCK, packages: [...LOCK.packages, LOCK.packages[0]] }, /libc6:amd64 twice/],
    ['a bad version', { ...LOCK, packages: [{ name: 'libc6', version: '2.36 9', arch: 'amd64' }] }, /packages\.0\.version/],
    ['an unknown field', { ...LOCK, mirror: 'x' }, /Unrecognized key/],
    ['no packages', { ...LOCK, packages: [] }, /packages/],
    ['another format', { ...LOCK, format: 'detbuild-template-lock/0' }, /format/],
  ])('refuses %s', (_name, data, message) => {
    expect(() => parseLock(data)).toThrow(TemplateError);
    expect(() => parseLock(data)).toThrow(message);
  });
});

describe('build script', () => {
  it('is a pure function of the lock, with the file system ids derived from it', () => {
    const sha = lockSha256(LOCK);
    expect(buildScript(LOCK, sha)).toBe(buildScript(parseLock(JSON.parse(serializeLock(LOCK))), sha));
    expect(buildScript(LOCK, sha)).toContain(`-U ${derivedUuid(sha, 'ext4-uuid')}`);
    expect(derivedUuid(sha, 'ext4-uuid')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(buildScript(LOCK, sha)).toContain(`--include='bsdutils,debconf,libc6'`);
    // no network inside: the only source is the local repository
    expect(buildScript(LOCK, sha)).not.toContain('http');
  });
});

describe('apt sources of the machine', () => {
  it('reads deb822 and one-line sources, skipping deb-src and disabled stanzas', () => {
    const deb822 = 'Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb-src\nURIs: http://src.invalid/debian\nSuites: bookworm\nComponents: main\n\nTypes: deb\nEnabled: no\nURIs: http://off.invalid/debian\nSuites: bookworm\nComponents: main\n';
    expect(parseDeb822Sources(deb822)).toEqual([{ uri: 'http://mirror.invalid/debian', suites: ['bookworm', 'bookworm-updates'], components: ['main'] }]);
    expect(parseOneLineSources('# x\ndeb [arch=amd64] http://m.invalid/debian bookworm main contrib\ndeb-src http://m.invalid/debian bookworm main\n')).toEqual([
      { uri: 'http://m.invalid/debian', suites: ['bookworm'], components: ['main', 'contrib'] },
    ]);
  });
});

describe('builder package set from the dpkg database', () => {
  it('is the closure of the roots and the essential packages, alternatives resolved to what is installed', () => {
    const status = [
      'ii \tbash\tamd64\t5.2\tyes\t\tlibc6 (>= 2.36), base-files',
      'ii \tbase-files\tamd64\t12.4\tyes\t\t',
      'ii \tlibc6\tamd64\t2.36\tno\t\tlibgcc-s1',
      'ii \tlibgcc-s1\tamd64\t12.2\tno\t\t',
      'ii \tnodejs\tamd64\t18.19\tno\t\tlibnode108 (= 18.19), awk | mawk',
      'ii \tlibnode108\tamd64\t18.19\tno\t\tlibc6',
      'ii \tmawk\tamd64\t1.3.4\tno\t\t',
      'ii \tgolang-go\tamd64\t2:1.19\tno\t\tlibc6',
      'rc \tgone\tamd64\t1.0\tno\t\t',
    ].join('\n');
    const provides = new Map([['awk', ['mawk']]]);
    const names = closureOf(parseStatusDeps(status), ['nodejs'], provides).map((e) => e.name).sort();
    expect(names).toEqual(['base-files', 'bash', 'libc6', 'libgcc-s1', 'libnode108', 'mawk', 'nodejs']);
    expect(() => closureOf(parseStatusDeps(status), ['gone'], provides)).toThrow(/not installed/);
  });
});

describe('what a new lock holds (detbuild template lock)', () => {
  it("its epoch is a snapshot archive's date, else today at 00:00 UTC", () => {
    expect(defaultEpoch('http://snapshot.debian.org/archive/debian/20250520T000000Z')).toBe(LOCK.epoch);
    expect(defaultEpoch('http://deb.debian.org/debian', Date.UTC(2026, 11, 7, 16, 30) + 123)).toBe(Date.UTC(2026, 11, 7) / 1000);
  });

  it("--archive 'URI [SUITE [COMPONENT...]]': what an archive does not name comes from --suite and --components", async () => {
    expect(await lockArchives(['http://a.invalid/debian', 'https://b.invalid/qubes  bookworm-testing  main contrib'], 'bookworm', ['main', 'non-free'])).toEqual([
      { uri: 'http://a.invalid/debian', suite: 'bookworm', components: ['main', 'non-free'] },
      { uri: 'https://b.invalid/qubes', suite: 'bookworm-testing', components: ['main', 'contrib'] },
    ]);
  });
});
