/**
 * Same commit, same bytes, with no flags: the default epoch and seed depend on
 * the sources' content only. Two real `git clone`s of one commit, made at
 * different times, at different paths, under different umasks, by different
 * users (root and nobody) and with different file times, built with no flags
 * under different real conditions, give identical bytes; the controls show what
 * the old defaults (the newest file time as the epoch) and a plain build do.
 * Also the rule itself (src/engine/source-date.ts) and the source hash.
 */
import { execa } from 'execa';
import { mkdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_EPOCH, MIN_EPOCH, rpmChangelogDate, sourceDate } from '../../src/engine/source-date.js';
import { hashTree, walkTree } from '../../src/engine/sources.js';
import { packSources } from '../../src/client/sources.js';
import { withSourceDate } from '../../src/client/source-date.js';
import type { Manifest } from '../../src/engine/types.js';
import { HOSTILE, NORMAL, describeRun, runUnder, type RunRecord } from '../helpers/conditions.js';
import { COMMIT_EPOCH, cloneAs, git, isRoot, repositoryOf } from '../helpers/git.js';
import { checkoutInOrder, compareTrees, freshDir, listFiles, removeUnlessKept, repoRoot, sha256File } from '../helpers/trees.js';

const HELLO = path.join(repoRoot, 'examples', 'hello');

async function write(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
}

describe('the epoch rule', () => {
  let root: string;
  beforeAll(async () => {
    root = await freshDir('epoch-rule');
  });
  afterAll(async () => removeUnlessKept(root));

  it('takes --epoch, then detbuild.json, then git HEAD, then debian/changelog, then an RPM %changelog, then 1980-01-01', async () => {
    const src = path.join(root, 'precedence');
    await mkdir(src);
    expect(await sourceDate(src)).toEqual({ epoch: DEFAULT_EPOCH, from: 'default' });
    expect(DEFAULT_EPOCH).toBe(Date.UTC(1980, 0, 1) / 1000);

    await write(path.join(src, 'rpm_spec', 'b.spec.in'), 'Name: b\n%changelog\n@CHANGELOG@\n');
    expect((await sourceDate(src)).from, 'a spec whose changelog is a placeholder has no date').toBe('default');
    await write(path.join(src, 'rpm_spec', 'a.spec'), 'Name: a\n%changelog\n* Wed Jan 10 2024 A <a@example.org> - 1.0-1\n- new\n\n* Mon Jan 01 2001 A <a@example.org> - 0.1-1\n- old\n');
    expect(await sourceDate(src)).toEqual({ epoch: Date.UTC(2024, 0, 10, 12) / 1000, from: 'rpm-spec' });

    await write(path.join(src, 'debian', 'changelog'), 'p (1.0-1) unstable; urgency=medium\n\n  * x\n\n -- A <a@example.org>  Tue, 05 Mar 2024 10:11:12 +0100\n');
    expect(await sourceDate(src)).toEqual({ epoch: Date.UTC(2024, 2, 5, 9, 11, 12) / 1000, from: 'debian/changelog' });

    await git(['init', '-q'], { cwd: src });
    expect((await sourceDate(src)).from, 'a repository with no commit yet dates nothing').toBe('debian/changelog');
    await git(['add', '-A'], { cwd: src });
    await git(['commit', '-q', '-m', 'x'], { cwd: src, env: { GIT_COMMITTER_DATE: '2024-06-07T08:09:10Z', GIT_AUTHOR_DATE: '2020-01-01T00:00:00Z' } });
    const head = (await git(['rev-parse', 'HEAD'], { cwd: src })).trim();
    expect(await sourceDate(src)).toEqual({ epoch: Date.UTC(2024, 5, 7, 8, 9, 10) / 1000, from: 'git', gitCommit: head });

    expect(await sourceDate(src, { project: 1_600_000_000 })).toEqual({ epoch: 1_600_000_000, from: 'detbuild.json', gitCommit: head });
    expect(await sourceDate(src, { explicit: 1_500_000_000, project: 1_600_000_000 })).toEqual({ epoch: 1_500_000_000, from: 'option', gitCommit: head });
  });

  it('dates a directory of a repository by its HEAD, but not an untracked directory below a work tree', async () => {
    const top = path.join(root, 'mono');
    await write(path.join(top, 'pkg', 'a', 'file.c'), 'int x;\n');
    await git(['init', '-q'], { cwd: top });
    await git(['add', '-A'], { cwd: top });
    await git(['commit', '-q', '-m', 'x'], { cwd: top, env: { GIT_COMMITTER_DATE: '2023-03-03T03:03:03Z' } });
    await write(path.join(top, 'untracked', 'b.c'), 'int y;\n');
    expect((await sourceDate(path.join(top, 'pkg', 'a'))).from).toBe('git');
    expect((await sourceDate(path.join(top, 'untracked'))).from).toBe('default');
  });

  it('never goes below 1980-01-01 for a derived date', async () => {
    const src = path.join(root, 'old');
    await write(path.join(src, 'x.spec'), '%changelog\n* Thu Jan 01 1970 A <a@b> - 1\n');
    expect(rpmChangelogDate(await readFile(path.join(src, 'x.spec'), 'utf8'))).toBe(12 * 3600);
    expect(await sourceDate(src)).toEqual({ epoch: MIN_EPOCH, from: 'rpm-spec' });
  });
});

describe('the source hash', () => {
  let root: string;
  beforeAll(async () => {
    root = await freshDir('source-hash');
  });
  afterAll(async () => removeUnlessKept(root));

  const hashOf = async (dir: string) => hashTree(dir, await walkTree(dir));

  it('ignores file times, umask, directory order and VCS metadata; sees content and the executable bit', async () => {
    const a = await checkoutInOrder(HELLO, 'forward', path.join(root, 'a'));
    const b = await checkoutInOrder(HELLO, 'reverse', path.join(root, 'deeper', 'b'), 0o077);
    for (const f of await listFiles(b)) await utimes(path.join(b, f), new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
    for (const vcs of ['.git/index', '.hg/dirstate', '.svn/wc.db', 'sub/CVS/Entries', 'sub/.git']) await write(path.join(b, vcs), `stat data ${Date.now()}\n`);
    await mkdir(path.join(a, 'sub'));
    expect((await stat(path.join(b, 'stamp.sh'))).mode & 0o777).toBe(0o700);
    expect(await hashOf(b)).toBe(await hashOf(a));

    await writeFile(path.join(b, 'hello.c'), `${await readFile(path.join(b, 'hello.c'), 'utf8')} `);
    expect(await hashOf(b), 'one byte more').not.toBe(await hashOf(a));
    await writeFile(path.join(b, 'hello.c'), await readFile(path.join(a, 'hello.c')));
    await execa('chmod', ['a-x', path.join(b, 'stamp.sh')]);
    expect(await hashOf(b), 'the executable bit').not.toBe(await hashOf(a));
  });
});

describe('two git clones of one commit, built with no flags', () => {
  let root: string;
  let origin: string;
  let cloneA: string;
  let cloneB: string;
  const runs: Record<string, RunRecord> = {};
  const manifest = async (r: RunRecord) => JSON.parse(await readFile(path.join(r.outDir, 'manifest.json'), 'utf8')) as Manifest;
  const artifacts = (r: RunRecord) => path.join(r.outDir, 'artifacts');
  /** what the engine took as the default epoch before: the newest file time among the sources */
  const newestMtime = async (dir: string) => {
    let newest = MIN_EPOCH;
    for (const f of await listFiles(dir)) if (!f.startsWith('.git/')) newest = Math.max(newest, Math.ceil((await stat(path.join(dir, f))).mtimeMs / 1000));
    return newest;
  };

  beforeAll(async () => {
    root = await freshDir('two-clones');
    origin = await repositoryOf(HELLO, root);
    // A: root, umask 022, now; B: 2 s later, by nobody when we are root, umask 077,
    // at a deeper path, its files then given other times
    cloneA = await cloneAs(origin, path.join(root, 'a', 'hello'));
    await new Promise((r) => setTimeout(r, 2000));
    const as = isRoot() ? ('nobody' as const) : undefined;
    if (!as) console.info('not root: both clones are made by the same user');
    cloneB = await cloneAs(origin, path.join(root, 'elsewhere', 'second-checkout', 'hello'), { as, umask: '077' });
    for (const f of ['hello.c', 'Makefile', 'stamp.sh']) await utimes(path.join(cloneB, f), new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));

    runs.a = await runUnder({ runner: 'engine', sourceDir: cloneA }, NORMAL, path.join(root, 'out', 'engine-a'));
    await new Promise((r) => setTimeout(r, 2000));
    runs.b = await runUnder({ runner: 'engine', sourceDir: cloneB }, HOSTILE, path.join(root, 'out', 'engine-b'));
    // controls: the old default epoch (each clone's newest file time), and no engine at all
    runs.oldA = await runUnder({ runner: 'engine', sourceDir: cloneA, epoch: await newestMtime(cloneA) }, NORMAL, path.join(root, 'out', 'old-a'));
    runs.oldB = await runUnder({ runner: 'engine', sourceDir: cloneB, epoch: await newestMtime(cloneB) }, HOSTILE, path.join(root, 'out', 'old-b'));
    runs.plainA = await runUnder({ runner: 'plain', sourceDir: cloneA }, NORMAL, path.join(root, 'out', 'plain-a'));
    runs.plainB = await runUnder({ runner: 'plain', sourceDir: cloneB }, HOSTILE, path.join(root, 'out', 'plain-b'));
    for (const [name, r] of Object.entries(runs)) expect(r.exitCode, `${name}\n${describeRun(r)}`).toBe(0);
  });
  afterAll(async () => removeUnlessKept(root));

  it('the clones really differ in their checkout metadata, owner, modes and times', async () => {
    expect(await sha256File(path.join(cloneB, '.git', 'index'))).not.toBe(await sha256File(path.join(cloneA, '.git', 'index')));
    const [sa, sb] = await Promise.all([stat(path.join(cloneA, 'stamp.sh')), stat(path.join(cloneB, 'stamp.sh'))]);
    expect(sb.mode & 0o777).toBe(0o700);
    expect(sa.mode & 0o777).toBe(0o755);
    if (isRoot()) expect(sb.uid).not.toBe(sa.uid);
    expect(await newestMtime(cloneB)).not.toBe(await newestMtime(cloneA));
  });

  it('every artifact is byte-identical', async () => {
    const cmp = await compareTrees(artifacts(runs.a!), artifacts(runs.b!));
    expect({ differ: cmp.differ, onlyA: cmp.onlyA, onlyB: cmp.onlyB }).toEqual({ differ: [], onlyA: [], onlyB: [] });
    expect(cmp.same).toEqual(['BUILD-DATE', 'hello', 'hello.c.gz', 'stamp.txt']);
  });

  it('the epoch is the commit date, the seed the content hash; the manifest names the commit', async () => {
    const [ma, mb] = await Promise.all([manifest(runs.a!), manifest(runs.b!)]);
    const head = (await git(['rev-parse', 'HEAD'], { cwd: origin })).trim();
    for (const m of [ma, mb]) {
      expect(m.epoch).toBe(COMMIT_EPOCH);
      expect(m.epochFrom).toBe('git');
      expect(m.gitCommit).toBe(head);
      expect(m.seed).toBe(m.sourceHash.slice(0, 32));
    }
    expect(mb.sourceHash).toBe(ma.sourceHash);
    expect((await readFile(path.join(artifacts(runs.a!), 'stamp.txt'), 'utf8')).startsWith('built at 2024-05-01T12:00')).toBe(true);
  });

  it('control: with the newest file time as the epoch (the old default), the clones build differently', async () => {
    const cmp = await compareTrees(artifacts(runs.oldA!), artifacts(runs.oldB!));
    expect(cmp.differ).toEqual(expect.arrayContaining(['BUILD-DATE', 'stamp.txt']));
  });

  it('control: built plainly, the clones differ', async () => {
    const cmp = await compareTrees(artifacts(runs.plainA!), artifacts(runs.plainB!));
    expect(cmp.differ).toEqual(expect.arrayContaining(['BUILD-DATE', 'stamp.txt']));
  });

  it('a remote build sends the same: the tar stream of both clones is the same bytes, and the commit date travels in the recipe', async () => {
    const tarOf = async (dir: string) => {
      const chunks: Buffer[] = [];
      for await (const c of packSources(dir)) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    const [ta, tb] = await Promise.all([tarOf(cloneA), tarOf(cloneB)]);
    expect(ta.equals(tb)).toBe(true);
    expect(ta.includes(Buffer.from('.git/'))).toBe(false);
    const head = (await git(['rev-parse', 'HEAD'], { cwd: origin })).trim();
    expect(await withSourceDate({}, cloneB)).toEqual({ epoch: COMMIT_EPOCH, origin: { epochFrom: 'git', gitCommit: head } });
    expect(await withSourceDate({ epoch: 7 }, cloneB)).toEqual({ epoch: 7 });
    await rm(path.join(root, 'plain-tree'), { recursive: true, force: true });
    await mkdir(path.join(root, 'plain-tree'));
    expect(await withSourceDate({}, path.join(root, 'plain-tree'))).toEqual({});
  });
});
