/**
 * How long a path a build can create, whatever file system its workspace is on
 * (src/supervisor/fs/fsdepth.c). gnulib's getcwd checks in configure scripts
 * nest directories until the kernel refuses: on ext4 or tmpfs that is never,
 * on a FUSE file system (disorderfs here, sshfs for a rebuilder) it is where
 * the path below the mount point passes PATH_MAX, and that path includes the
 * caller's directory. wget's configure made 1,367 levels in one corpus run and
 * 440 in the other, and its .buildinfo's Build-Date moved by the 4,000 changes
 * between them.
 *
 * A: the workspace on the usual file system, in a short directory. B: on
 * disorderfs whose lower directory has a long path. Under the engine both
 * builds stop at the same depth with ENAMETOOLONG and read the same clock;
 * control: plain builds stop at different depths. Needs root and /dev/fuse
 * (disorderfs): skipped with one line otherwise.
 */
import { chmod, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, runUnder, type Conditions, type RunRecord } from '../helpers/conditions.js';
import { disorderfsUnavailable, mountDisorderfs } from '../helpers/disorderfs.js';
import { cleanCopy, freshDir, removeUnlessKept, repoRoot } from '../helpers/trees.js';

const fixture = path.join(repoRoot, 'test', 'fixtures', 'path-length');
const why = disorderfsUnavailable();
if (why) console.info(`path-length: skipped: ${why}`);

describe.skipIf(why !== null)('the longest path a build can create', () => {
  let root: string;
  let src: string;
  const runs: Record<string, RunRecord> = {};

  beforeAll(async () => {
    src = await cleanCopy(fixture);
    root = await freshDir('path-length');
    const usual: Conditions = { name: 'workspace on the usual file system, CPU 0', cpu: 0, freshTmpdir: true };
    runs.engineA = await runUnder({ runner: 'engine', sourceDir: src }, usual, path.join(root, 'engine-A'));
    runs.plainA = await runUnder({ runner: 'plain', sourceDir: src }, usual, path.join(root, 'plain-A'));
    await chmod(root, 0o755); // the build user must reach the workspace on the mount
    const lower = path.join(root, `lower-${'a-directory-with-a-long-name-'.repeat(8)}`, 'below');
    const { tmpdir, unmount } = await mountDisorderfs(lower, path.join(root, 'fuse'));
    try {
      const fuse: Conditions = { name: 'workspace on disorderfs, a long lower directory, CPU 1', cpu: 1, env: { TMPDIR: tmpdir } };
      runs.engineB = await runUnder({ runner: 'engine', sourceDir: src }, fuse, path.join(root, 'engine-B'));
      runs.plainB = await runUnder({ runner: 'plain', sourceDir: src }, fuse, path.join(root, 'plain-B'));
    } finally {
      await unmount();
    }
  }, 600_000);
  afterAll(async () => removeUnlessKept(...[root, src && path.dirname(src)].filter((d): d is string => !!d)));

  const read = (r: RunRecord, name: string) => readFile(path.join(r.outDir, 'artifacts', name), 'utf8');

  it('every build succeeds', () => {
    for (const r of Object.values(runs)) expect(r.exitCode, describeRun(r)).toBe(0);
  });

  it('under the engine both stop at the same depth, refused as too long, and read the same clock', async () => {
    const depth = await read(runs.engineA!, 'depth.txt');
    expect(depth).toMatch(/^depth \d+: File name too long\n$/);
    const levels = Number(/depth (\d+)/.exec(depth)![1]);
    // "/build/src/" and then "confdir3/" per level, up to 3,072 characters
    expect(levels).toBe(Math.floor((3072 - '/build/src'.length) / '/confdir3'.length));
    expect(await read(runs.engineB!, 'depth.txt')).toBe(depth);
    expect(await read(runs.engineB!, 'clock.txt')).toBe(await read(runs.engineA!, 'clock.txt'));
  });

  it('control: plain builds stop at different depths', async () => {
    expect(await read(runs.plainB!, 'depth.txt')).not.toBe(await read(runs.plainA!, 'depth.txt'));
  });
});
