/**
 * `detbuild build` with several inputs: side by side on this machine, each on a CPU of its
 * own; the same sources built twice at once (another path, another CPU, beside another
 * build) come out identical, and plainly they do not. A failure or a Ctrl-C leaves the
 * other results intact. The live view's terminal form is checked on a fake terminal.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgressBoard } from '../../src/cli/batch/progress.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { startCli } from '../helpers/cli.js';
import { freshDir } from '../helpers/trees.js';

let root: string;
beforeAll(async () => {
  root = await freshDir('batch');
});
afterAll(async () => {
  if (root && !process.env.DETBUILD_TEST_KEEP) await rm(root, { recursive: true, force: true });
});

async function project(name: string, command: string): Promise<string> {
  const dir = path.join(root, 'src', name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'detbuild.json'), JSON.stringify({ command }));
  await writeFile(path.join(dir, 'id.txt'), `${name}\n`);
  return dir;
}

// `cpus`: the CPUs the build may run on as /proc/self/status says them; under the engine,
// where each build is pinned to a CPU of its own, the supervisor's /proc view says CPU 0.
const UNREPRODUCIBLE = 'mkdir -p $DETBUILD_OUT && date +%s.%N > $DETBUILD_OUT/t && head -c 16 /dev/urandom > $DETBUILD_OUT/r && nproc > $DETBUILD_OUT/n && grep Cpus_allowed_list /proc/self/status > $DETBUILD_OUT/cpus && cp id.txt $DETBUILD_OUT/';

function build(args: string[]) {
  return startCli(['build', ...args]);
}

interface Outcome {
  name: string;
  status: string;
  outDir: string | null;
}

describe('detbuild build SRC_DIR... (side by side)', () => {
  it('the same sources built twice at once are identical under the engine, not plainly; one failure leaves the rest', async () => {
    const a = await project('same', UNREPRODUCIBLE);
    const b = path.join(root, 'elsewhere', 'same');
    await mkdir(path.dirname(b), { recursive: true });
    await cp(a, b, { recursive: true, preserveTimestamps: true });
    const broken = await project('broken', 'echo failing on purpose; exit 5');
    for (const mode of ['engine', 'plain'] as const) {
      const out = path.join(root, `out-${mode}`);
      const r = await build([a, b, broken, '--out', out, '--jobs', '2', ...(mode === 'plain' ? ['--plain'] : [])]);
      expect(r.exitCode, r.stderr).toBe(EXIT.buildFailed);
      const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Outcome[];
      expect(summary.map((o) => [o.name, o.status])).toEqual([['same', 'success'], ['same-2', 'success'], ['broken', 'failed']]);
      expect(await readFile(path.join(out, 'broken.failed.log'), 'utf8')).toContain('failing on purpose');
      const [x, y] = await Promise.all(['same', 'same-2'].map(async (n) => readFile(path.join(out, n, 'manifest.json'), 'utf8').then((t) => (JSON.parse(t) as { artifacts: Array<{ path: string }> }).artifacts)));
      if (mode === 'engine') {
        expect(y).toEqual(x);
        expect((await readdir(path.join(out, 'same'))).sort()).toEqual(['artifacts', 'build.log', 'environment.buildinfo', 'manifest.json', 'provenance.intoto.json', 'record.json']);
      } else {
        expect(y).not.toEqual(x);
      }
    }
  });

  it('Ctrl-C cancels the running builds; the finished one stays', async () => {
    const quick = await project('quick', 'mkdir -p $DETBUILD_OUT && cp id.txt $DETBUILD_OUT/');
    // blocked for good (a timed wait such as sleep ends in logical time once nothing else runs)
    const slow = await project('slow', 'mkfifo hang && cat hang');
    const out = path.join(root, 'out-cancel');
    const child = build([quick, slow, '--out', out, '--jobs', '2']);
    const deadline = Date.now() + 60_000;
    while (!existsSync(path.join(out, 'quick'))) {
      if (Date.now() > deadline) throw new Error('the quick build did not finish');
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(EXIT.cancelled);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Outcome[];
    expect(summary.map((o) => o.status)).toEqual(['success', 'cancelled']);
    expect(existsSync(path.join(out, 'slow'))).toBe(false);
    expect(await readFile(path.join(out, 'quick', 'artifacts', 'id.txt'), 'utf8')).toBe('quick\n');
  });

  it('several inputs need an empty OUT_DIR; --jobs needs several inputs', async () => {
    const a = await project('u1', 'true');
    const r = await build([a, a, '--out', path.join(root, 'out-cancel')]);
    expect(r.exitCode).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/^detbuild build: the output directory exists and is not empty: /);
    expect((await build([a, '--out', path.join(root, 'x'), '--jobs', '2'])).exitCode).toBe(EXIT.usage);
  });
});

describe('the live view on a terminal', () => {
  it('one line per build, redrawn in place', () => {
    const tty = new PassThrough();
    let text = '';
    tty.on('data', (c: Buffer) => {
      text += c.toString();
    });
    const board = new ProgressBoard(['hello', 'world'], tty, 'tty');
    board.start(0);
    board.stage(0, 'run');
    board.finish(0, 'success, 2 artifacts');
    board.stop();
    const frames = text.split('\x1b[2A');
    expect(frames.length).toBeGreaterThan(3);
    const last = frames[frames.length - 1]!.split('\n').map((l) => l.replace('\r\x1b[K', ''));
    expect(last[0]).toMatch(/^hello  done\s+\d+\.\d s  success, 2 artifacts$/);
    expect(last[1]).toMatch(/^world  waiting\s*$/);
  });
});
