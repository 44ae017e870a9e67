/**
 * Timed waits beside a slow file system (src/supervisor/waits.c): a thread
 * asleep waiting for a FUSE daemon's answer is not idle, and a timed wait of
 * the build must not time out while it waits.  The fixture
 * test/fixtures/fs-server-waits sleeps 1000 s in the background while it
 * creates, reads and lists files in its workspace and writes the clock after
 * each step, then kills the sleep: the sleep may not time out while the loop
 * can run, so no line may jump by its 1000 s.
 *
 * Run A: the workspace (TMPDIR) on the usual file system, CPU 0.  Runs B1 and
 * B2: the workspace on disorderfs, its daemon on CPU 0 niced behind busy
 * loops so every request waits for it in real time, the build on CPU 1 (what
 * a rebuilder with its TMPDIR on sshfs or another FUSE file system sees).
 * The three clock files must be byte-identical; before the fix the sleep
 * timed out during a load-dependent iteration of the loop (the build seemed
 * idle while the loop waited for the daemon).  Control: plain
 * builds under the same conditions differ.  Needs root (disorderfs
 * --multi-user) and /dev/fuse: skipped with one line otherwise.
 */
import { chmod, readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, runUnder, startLoad, type Conditions, type RunRecord } from '../helpers/conditions.js';
import { disorderfsUnavailable, mountDisorderfs } from '../helpers/disorderfs.js';
import { cleanCopy, freshDir, removeUnlessKept, repoRoot } from '../helpers/trees.js';

const fixture = path.join(repoRoot, 'test', 'fixtures', 'fs-server-waits');
const why = disorderfsUnavailable();
if (why) console.info(`fs-server-waits: skipped: ${why}`);

const DAEMON_CPU = 0;
const BUILD_CPU = Math.min(1, cpus().length - 1);

/** A disorderfs mount of `lower` at `mount`, its daemon niced on DAEMON_CPU behind `loops` busy loops. */
async function slowFuse(lower: string, mount: string, loops: number): Promise<{ tmpdir: string; stop: () => Promise<void> }> {
  const { tmpdir, unmount } = await mountDisorderfs(lower, mount, ['taskset', '-c', String(DAEMON_CPU), 'nice', '-n', '19']);
  const stopLoad = startLoad(loops, DAEMON_CPU);
  return {
    tmpdir,
    stop: async () => {
      await stopLoad();
      await unmount();
    },
  };
}

describe.skipIf(why !== null)('timed waits beside a slow file system', () => {
  let root: string;
  let src: string;
  const runs: Record<string, RunRecord> = {};

  beforeAll(async () => {
    src = await cleanCopy(fixture);
    root = await freshDir('fs-server-waits');
    const usual: Conditions = { name: 'workspace on the usual file system, CPU 0', cpu: 0, freshTmpdir: true };
    runs.engineA = await runUnder({ runner: 'engine', sourceDir: src }, usual, path.join(root, 'engine-A'));
    runs.plainA = await runUnder({ runner: 'plain', sourceDir: src }, usual, path.join(root, 'plain-A'));
    // the build user (nobody, when root runs the engine) must reach the workspace there, or the engine falls back to /tmp
    await chmod(root, 0o755);
    const { tmpdir, stop } = await slowFuse(path.join(root, 'lower'), path.join(root, 'fuse'), 3);
    try {
      const slow: Conditions = { name: `workspace on disorderfs (daemon behind busy loops), CPU ${BUILD_CPU}`, cpu: BUILD_CPU, env: { TMPDIR: tmpdir } };
      runs.engineB1 = await runUnder({ runner: 'engine', sourceDir: src }, slow, path.join(root, 'engine-B1'));
      runs.engineB2 = await runUnder({ runner: 'engine', sourceDir: src }, slow, path.join(root, 'engine-B2'));
      runs.plainB = await runUnder({ runner: 'plain', sourceDir: src }, slow, path.join(root, 'plain-B'));
    } finally {
      await stop();
    }
  }, 600_000);
  afterAll(async () => removeUnlessKept(...[root, src && path.dirname(src)].filter((d): d is string => !!d)));

  const clockOf = (r: RunRecord) => readFile(path.join(r.outDir, 'artifacts', 'clock.txt'), 'utf8');

  it('every build succeeds', () => {
    for (const r of Object.values(runs)) expect(r.exitCode, describeRun(r)).toBe(0);
  });

  it('under the engine the sleep never times out while the loop can run, whatever the file system answers: identical clocks', async () => {
    const a = await clockOf(runs.engineA!);
    // the sleep never timed out: every step of the loop moved the clock alike
    const lines = a.trim().split('\n').map(Number);
    expect(lines).toHaveLength(121);
    const steps = new Set(lines.slice(1, 120).map((v, i) => v - lines[i]!));
    expect([...steps]).toHaveLength(1);
    expect([...steps][0]!).toBeLessThan(1000);
    expect(await clockOf(runs.engineB1!)).toBe(a);
    expect(await clockOf(runs.engineB2!)).toBe(a);
  });

  it('control: plain builds under the same conditions differ', async () => {
    expect(await clockOf(runs.plainB!)).not.toBe(await clockOf(runs.plainA!));
  });
});
