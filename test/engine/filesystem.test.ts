/**
 * The build's view of the filesystem (docs/ENGINE.md, "What the build sees"): file
 * times, directory order, inode and device numbers.
 *
 * test/fixtures/filesystem builds, with Debian's own tools, every kind of
 * artifact that records what the filesystem says: tar (gnu and pax), tar.gz,
 * gzip, zip, jar, two ISO 9660 images, cpio, squashfs, ext4, an RPM, Python
 * bytecode and an sdist, and private keys; and it asks every door of the stat
 * family (libc, raw syscalls, a static binary, Go) about the same files. It is built twice under different
 * real conditions, from two checkouts of the same sources made in opposite
 * orders (new file times, inode numbers and directory order; the second with
 * owner-only modes, as under umask 077): every artifact must be identical.
 * The control builds the same pair with --plain: every archive must differ.
 *
 * test/fixtures/make-incremental touches sources and rebuilds step by step:
 * make must rebuild exactly the same targets under the engine as plainly.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, runPair, runUnder, NORMAL, type PairRecord, type RunRecord } from '../helpers/conditions.js';
import { checkoutInOrder, compareTrees, freshDir, removeUnlessKept, repoRoot } from '../helpers/trees.js';

const FIXTURE = path.join(repoRoot, 'test', 'fixtures', 'filesystem');
const MAKE_FIXTURE = path.join(repoRoot, 'test', 'fixtures', 'make-incremental');
/** the fixture's detbuild.json epoch */
const EPOCH = 1_700_000_000;
/** what `touch -d '2001-02-03 04:05:06'` sets (the fixture's TZ is UTC) */
const EXPLICIT = 981_173_106;

/** Every artifact that records file metadata; all must differ plainly. */
const ARCHIVES = [
  'tree.tar',
  'tree-pax.tar',
  'tree.tar.gz',
  'hello.txt.gz',
  'tree.zip',
  'tree.jar',
  'tree.cpio',
  'tree.iso',
  'tree-xorriso.iso',
  'tree.squashfs',
  'tree.ext4',
  'detdemo-1.0-1.noarch.rpm',
  '__init__.cpython-311.pyc',
  'detdemo-1.0.tar.gz',
  'key.pem',
  'key-ed25519.pem',
];

const artifactsOf = (r: RunRecord) => path.join(r.outDir, 'artifacts');
const listing = (r: RunRecord, name: string) => readFile(path.join(artifactsOf(r), 'listing', name), 'utf8');
const lines = (text: string) => text.split('\n').filter(Boolean);

function expectSucceeded(...runs: RunRecord[]): void {
  for (const r of runs) expect(r.exitCode, describeRun(r)).toBe(0);
}

/** `find -printf '%p %i %D %n %s %b %T@ %A@ %C@'` lines by path. */
function parseFind(text: string) {
  return new Map(
    lines(text).map((l) => {
      const [p, ino, dev, nlink, size, blocks, m, a, c] = l.split(' ');
      return [p!, { ino: ino!, dev: dev!, nlink: Number(nlink), size: Number(size), blocks: Number(blocks), m: Number(m), a: Number(a), c: Number(c) }];
    }),
  );
}

describe('filesystem view: archives, images and packages built twice are identical', () => {
  let checkouts: string;
  let srcA: string;
  let srcB: string;
  let pair: PairRecord;
  let plain: PairRecord;

  beforeAll(async () => {
    checkouts = await freshDir('checkouts');
    srcA = await checkoutInOrder(FIXTURE, 'forward', path.join(checkouts, 'a'));
    srcB = await checkoutInOrder(FIXTURE, 'reverse', path.join(checkouts, 'b'), 0o077);
    pair = await runPair({ runner: 'engine', sourceDir: srcA }, { sourceDirB: srcB });
    expectSucceeded(pair.a, pair.b);
    plain = await runPair({ runner: 'plain', sourceDir: srcA }, { sourceDirB: srcB });
    expectSucceeded(plain.a, plain.b);
  });
  afterAll(async () => removeUnlessKept(...[pair?.root, plain?.root, checkouts].filter((d): d is string => !!d)));

  it('every artifact is byte-identical under the engine', async () => {
    const cmp = await compareTrees(artifactsOf(pair.a), artifactsOf(pair.b));
    expect({ differ: cmp.differ, onlyA: cmp.onlyA, onlyB: cmp.onlyB }).toEqual({ differ: [], onlyA: [], onlyB: [] });
    expect(cmp.same).toEqual(expect.arrayContaining(ARCHIVES));
  });

  it('control: plainly, every archive, image, package and key differs', async () => {
    const cmp = await compareTrees(artifactsOf(plain.a), artifactsOf(plain.b));
    expect(ARCHIVES.filter((f) => !cmp.differ.includes(f)), 'archives identical without the engine').toEqual([]);
  });

  it('ls -f lists names in the same (sorted) order whatever order they were created in', async () => {
    for (const r of [pair.a, pair.b]) {
      const [fwd, rev, treeFwd, treeRev] = await Promise.all(
        ['ls-f-tmp-fwd.txt', 'ls-f-tmp-rev.txt', 'ls-f-tree-fwd.txt', 'ls-f-tree-rev.txt'].map((n) => listing(r, n)),
      );
      const names = lines(fwd!);
      expect(names.slice(0, 2)).toEqual(['.', '..']);
      expect(names.slice(2)).toEqual([...names.slice(2)].sort());
      expect(names).toHaveLength(26);
      expect(rev).toBe(fwd);
      expect(treeFwd).toBe(fwd);
      expect(treeRev).toBe(fwd);
    }
    // the control: on the sandbox's tmpfs, plain listings follow creation order
    const [fwd, rev] = await Promise.all(['ls-f-tmp-fwd.txt', 'ls-f-tmp-rev.txt'].map((n) => listing(plain.a, n)));
    expect(rev).not.toBe(fwd);
  });

  it('times: untouched sources at the epoch, written files at logical times after it, explicit times kept', async () => {
    const find = parseFind(await listing(pair.a, 'find.txt'));
    const get = (p: string) => {
      const e = find.get(p);
      expect(e, `${p} in find.txt`).toBeDefined();
      return e!;
    };
    expect(get('./sub/explicit-time.txt').m).toBe(EXPLICIT);
    expect(get('./sub/explicit-time.txt').c).toBeGreaterThan(EPOCH);
    for (const [p, e] of find) {
      if (p === './sub/explicit-time.txt') continue;
      expect(e.m, p).toBeGreaterThanOrEqual(EPOCH);
      expect(e.m, `${p}: no later than the build could have run`).toBeLessThan(EPOCH + 100_000);
      expect(e.c, p).toBeGreaterThanOrEqual(e.m);
    }
    // written in this order by the fixture: later writes have later times
    expect(get('./sub/hello.txt').m).toBeGreaterThan(get('./fwd/n24').m);
    expect(get('./fwd/n24').m).toBeGreaterThan(get('./fwd/n01').m);
  });

  it('every door of the stat family says the same: libc, raw syscalls, a static binary, Go', async () => {
    const doors = lines(await listing(pair.a, 'doors.txt'));
    const field = (l: string, k: string) => new RegExp(`\\b${k}=(\\S+)`).exec(l)?.[1];
    const byFile = new Map<string, string[]>();
    for (const l of doors) {
      const [file, door] = l.split(' ');
      if (door === 'go-readdir') continue;
      byFile.set(file!, [...(byFile.get(file!) ?? []), l]);
    }
    expect([...byFile.keys()].sort()).toEqual(['fwd', 'sub/explicit-time.txt', 'sub/hardlink.txt', 'sub/hello.txt', 'sub/symlink']);
    for (const [file, ls] of byFile) {
      const doorsSeen = new Set(ls.map((l) => l.split(' ')[1]));
      expect([...doorsSeen].sort(), file).toEqual(
        ['fstat', 'fstatat', 'go-fstat', 'go-lstat', 'go-stat', 'lstat', 'newfstatat-empty', 'stat', 'statx', 'statx-raw'].sort(),
      );
      // lstat of the symlink is the link itself: compare the doors that follow it
      const following = ls.filter((l) => !(file === 'sub/symlink' && / (lstat|go-lstat) /.test(l)));
      for (const k of ['ino', 'nlink', 'size', 'mtime']) {
        expect(new Set(following.map((l) => field(l, k))).size, `${file}: ${k} by every door\n${following.join('\n')}`).toBe(1);
      }
    }
    const readdir = doors.filter((l) => l.startsWith('fwd go-readdir ')).map((l) => l.split(' ')[2]);
    expect(readdir).toEqual([...readdir].sort());
    expect(await listing(pair.b, 'doors.txt')).toBe(await listing(pair.a, 'doors.txt'));
  });

  it('inode numbers, devices, link counts and sizes depend only on what the build did', async () => {
    const find = parseFind(await listing(pair.a, 'find.txt'));
    const hello = find.get('./sub/hello.txt')!;
    const link = find.get('./sub/hardlink.txt')!;
    expect(link.ino).toBe(hello.ino);
    expect([hello.nlink, link.nlink]).toEqual([2, 2]);
    expect(new Set([...find.values()].map((e) => e.dev)).size).toBe(1);
    const inodes = [...find.entries()].filter(([p]) => p !== './sub/hardlink.txt').map(([, e]) => e.ino);
    expect(new Set(inodes).size).toBe(inodes.length);
    for (const [p, e] of find) if (p.startsWith('./fwd/')) expect([e.size, e.blocks], p).toEqual([9, 8]);
    // and the same numbers in the other run, which had other host inodes and creation order
    expect(await listing(pair.b, 'find.txt')).toBe(await listing(pair.a, 'find.txt'));
    expect(await listing(plain.b, 'find.txt')).not.toBe(await listing(plain.a, 'find.txt'));
  });
});

describe('filesystem view: make rebuilds exactly what it rebuilds plainly', () => {
  let root: string;
  let engine: RunRecord;
  let plain: RunRecord;

  beforeAll(async () => {
    root = await freshDir('make-incremental');
    engine = await runUnder({ runner: 'engine', sourceDir: MAKE_FIXTURE }, NORMAL, path.join(root, 'engine'));
    plain = await runUnder({ runner: 'plain', sourceDir: MAKE_FIXTURE }, NORMAL, path.join(root, 'plain'));
    expectSucceeded(engine, plain);
  });
  afterAll(async () => removeUnlessKept(root));

  it('every step rebuilds the same targets under the engine as plainly', async () => {
    const [e, p] = await Promise.all([engine, plain].map((r) => readFile(path.join(artifactsOf(r), 'steps.txt'), 'utf8')));
    expect(e).toBe(p);
  });

  it('the steps rebuild what make should (the fixture is a real test of ordering)', async () => {
    const steps = await readFile(path.join(artifactsOf(engine), 'steps.txt'), 'utf8');
    const after = (title: string) => {
      const block = steps.split('== ').find((b) => b.startsWith(title));
      return lines(block ?? '').slice(1);
    };
    expect(after('first build')).toEqual(['generate gen.h', 'compile a.o', 'compile b.o', 'link prog']);
    expect(after('nothing changed')).toEqual(["make: 'prog' is up to date."]);
    expect(after('touch b.c')).toEqual(['compile b.o', 'link prog']);
    expect(after('touch gen.in')).toEqual(['generate gen.h', 'compile a.o', 'link prog']);
    expect(after('a.c set to 2001')).toEqual(["make: 'prog' is up to date."]);
    expect(after('touch a.o')).toEqual(['link prog']);
    expect(after('rm b.o')).toEqual(['compile b.o', 'link prog']);
    expect(steps).toContain('== make -q: up to date');
  });

  it('no clock-skew warnings: files are never newer than the clock of the make that reads them', async () => {
    const log = await readFile(path.join(engine.outDir, 'build.log'), 'utf8');
    expect(log).not.toMatch(/clock skew|in the future/i);
  });
});
