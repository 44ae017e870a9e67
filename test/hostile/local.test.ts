/**
 * Hostile builds run locally (`detbuild build`, the real CLI as a process): output without
 * newlines, workspaces a build makes hard to remove, host secrets and dangerous modes when
 * detbuild runs as root, artifact names no one can publish.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireCli } from '../helpers/cli.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

let root: string;
let src: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'detbuild-hostile-'));
  await chmod(root, 0o755);
  src = path.join(root, 'src');
  await mkdir(src);
  await writeFile(path.join(src, 'in.txt'), 'input\n');
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** the CLI's peak resident memory (VmHWM), KiB */
  peakKb: number;
}

let seq = 0;
/** A fresh TMPDIR (owned by `uid`), where the engine makes its workspace. */
async function freshTmp(uid = 0): Promise<string> {
  const d = path.join(root, `tmp${++seq}`);
  await mkdir(d, { mode: 0o755 });
  if (uid !== 0) await chown(d, uid, uid);
  return d;
}

/** What is left in a TMPDIR that is also HOME, besides the toolchain versions kept in HOME's cache. */
async function leftovers(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  if (!names.includes('.cache')) return names;
  const kept = await readdir(path.join(dir, '.cache'));
  const inDetbuild = kept.includes('detbuild') ? await readdir(path.join(dir, '.cache', 'detbuild')) : [];
  const onlyCache = kept.length === 1 && kept[0] === 'detbuild' && inDetbuild.every((n) => n === 'toolchain.json');
  return onlyCache ? names.filter((n) => n !== '.cache') : names;
}

/** `detbuild ARGS` with TMPDIR (and optionally as another user, under another umask). */
function detbuild(args: string[], opts: { tmp: string; uid?: number; umask?: string }): Promise<CliRun> {
  const cli = [process.execPath, requireCli(), ...args];
  const asUser = opts.uid ? ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups'] : [];
  const cmd = ['sh', '-c', `umask ${opts.umask ?? '022'}; exec "$@"`, 'sh', ...asUser, ...cli];
  const started = Date.now();
  const proc = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: opts.tmp, HOME: opts.tmp } });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-20_000)));
  let peakKb = 0;
  const poll = setInterval(() => {
    // the node process itself (sh and setpriv exec into it: same pid)
    readFile(`/proc/${proc.pid}/status`, 'utf8').then(
      (s) => {
        const m = /^VmHWM:\s+(\d+)/m.exec(s);
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      },
      () => undefined,
    );
  }, 50);
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', (code) => {
      clearInterval(poll);
      resolve({ code, stdout, stderr, ms: Date.now() - started, peakKb });
    });
  });
}

let outSeq = 0;
const freshOut = () => path.join(root, `out${++outSeq}`);

describe('output without newlines: memory stays flat, time linear', () => {
  it('a build writing 10 and 40 MB without a newline', async () => {
    const base = await detbuild(['build', src, '--out', freshOut(), '--quiet', '--command', 'true'], { tmp: await freshTmp() });
    expect(base.code, base.stderr).toBe(0);
    const runs: CliRun[] = [];
    for (const mb of [10, 40]) {
      const out = freshOut();
      const r = await detbuild(['build', src, '--out', out, '--quiet', '--command', `head -c ${mb}M /dev/zero; echo; echo done`], { tmp: await freshTmp() });
      expect(r.code, r.stderr).toBe(0);
      runs.push(r);
      // long lines are cut into pieces in the log, never held whole
      const log = await readFile(path.join(out, 'build.log'), 'utf8');
      const longest = Math.max(...log.split('\n').map((l) => l.length));
      expect(longest).toBeLessThanOrEqual(64 * 1024);
      expect(log).toMatch(/^done$/m);
    }
    const [r10, r40] = runs as [CliRun, CliRun];
    console.info(`no newline: base ${base.ms} ms ${base.peakKb >> 10} MiB; 10 MB ${r10.ms} ms ${r10.peakKb >> 10} MiB; 40 MB ${r40.ms} ms ${r40.peakKb >> 10} MiB`);
    // flat: 40 MB of output costs the CLI no more than 100 MiB above a build that prints nothing
    expect(r40.peakKb - base.peakKb).toBeLessThan(100 * 1024);
    // linear (generously: quadratic was 3.5x per doubling)
    expect(r40.ms).toBeLessThan(3 * r10.ms + 2000);
  });

  it('`cat /dev/zero` is stopped at its time limit with memory flat', async () => {
    const r = await detbuild(['build', src, '--out', freshOut(), '--quiet', '--timeout', '3', '--command', 'cat /dev/zero'], { tmp: await freshTmp() });
    expect(r.code, r.stderr).toBe(5);
    expect(r.peakKb).toBeLessThan(300 * 1024);
  });
});

/** 300 nested directories of 16-character names (beyond PATH_MAX) and directories mode 0500. */
const HARD_TO_REMOVE = [
  'cd /build/home && python3 -c "',
  'import os',
  'for _ in range(300):',
  '    os.mkdir(16 * \\"d\\"); os.chdir(16 * \\"d\\")',
  '"',
  'mkdir -p /build/src/ro/sub /build/home/ro $DETBUILD_OUT/ro && touch /build/src/ro/sub/f /build/home/ro/f $DETBUILD_OUT/ro/f',
  'chmod 500 /build/src/ro /build/src/ro/sub /build/home/ro',
].join('\n');

describe('workspaces are removed whatever the build left in them', () => {
  const cases = [
    { what: 'as root, the build succeeding', uid: 0, tail: 'echo x > $DETBUILD_OUT/x', code: 0 },
    { what: 'as root, the build failing', uid: 0, tail: 'chmod 500 $DETBUILD_OUT/ro; exit 3', code: 4 },
    { what: 'as an unprivileged user, the build succeeding', uid: NOBODY, tail: 'echo x > $DETBUILD_OUT/x', code: 0 },
    { what: 'as an unprivileged user, the build failing', uid: NOBODY, tail: 'chmod 500 $DETBUILD_OUT/ro; exit 3', code: 4 },
  ];
  it.each(cases)('$what', async ({ uid, tail, code }) => {
    if (!isRoot) return console.info('skipped: needs root (to run the build as root and as another user)');
    const tmp = await freshTmp(uid);
    const parent = path.join(root, `outparent${++seq}`);
    await mkdir(parent);
    if (uid) await chown(parent, uid, uid);
    const r = await detbuild(['build', src, '--out', path.join(parent, 'out'), '--quiet', '--command', `${HARD_TO_REMOVE}\n${tail}`], { tmp, uid });
    expect(r.code, r.stderr).toBe(code);
    // HOME is the same directory: the toolchain versions the environment record keeps
    // between runs (src/record/toolchain.ts) are all that may stay
    expect(await leftovers(tmp)).toEqual([]);
    expect(r.stderr).not.toMatch(/cannot remove/);
  });
});

describe('run as root, a build never has root\'s access to the host', () => {
  it("`sudo detbuild build SRC --out OUT --command 'cat /etc/shadow > $DETBUILD_OUT/shadow'` gets no shadow file", async () => {
    if (!isRoot) return console.info('skipped: needs root');
    const out = freshOut();
    const r = await detbuild(['build', src, '--out', out, '--command', 'cat /etc/shadow > $DETBUILD_OUT/shadow'], { tmp: await freshTmp() });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/Permission denied/);
    expect(existsSync(out)).toBe(false);
    // and the same for gshadow, with the build going on to succeed
    const out2 = freshOut();
    const r2 = await detbuild(['build', src, '--out', out2, '--quiet', '--command', 'cat /etc/gshadow > $DETBUILD_OUT/gshadow; cat /etc/shadow >> $DETBUILD_OUT/gshadow; true'], { tmp: await freshTmp() });
    expect(r2.code, r2.stderr).toBe(0);
    expect(await readFile(path.join(out2, 'artifacts', 'gshadow'), 'utf8')).toBe('');
  });
});

describe('artifacts are published with the modes of their kind only (executable or not), owned by the caller', () => {
  const MAKE = [
    'mkdir -m 777 $DETBUILD_OUT/d $DETBUILD_OUT/locked',
    'echo s > $DETBUILD_OUT/d/suid && chmod 6755 $DETBUILD_OUT/d/suid',
    'echo p > $DETBUILD_OUT/private && chmod 600 $DETBUILD_OUT/private',
    'echo w > $DETBUILD_OUT/world && chmod 777 $DETBUILD_OUT/world',
    'echo t > $DETBUILD_OUT/sticky && chmod 1644 $DETBUILD_OUT/sticky',
    'echo l > $DETBUILD_OUT/locked/f && chmod 500 $DETBUILD_OUT/locked',
    'ln -s d/suid $DETBUILD_OUT/link',
  ].join(' && ');
  it.each(['022', '077'])('under umask %s', async (umask) => {
    const out = freshOut();
    const r = await detbuild(['build', src, '--out', out, '--quiet', '--command', MAKE], { tmp: await freshTmp(), umask });
    expect(r.code, r.stderr).toBe(0);
    const a = path.join(out, 'artifacts');
    const modes: Record<string, string> = {};
    for (const p of ['d', 'd/suid', 'private', 'world', 'sticky', 'locked', 'locked/f']) {
      const st = await lstat(path.join(a, p));
      modes[p] = (st.mode & 0o7777).toString(8);
      expect([st.uid, st.gid], p).toEqual([process.getuid!(), process.getgid!()]);
    }
    expect(modes).toEqual({ d: '755', 'd/suid': '755', private: '644', world: '755', sticky: '644', locked: '755', 'locked/f': '644' });
    expect((await lstat(path.join(a, 'link'))).isSymbolicLink()).toBe(true);
  });
});

describe('artifacts no one can publish are the build\'s failure, not the engine\'s', () => {
  it.each([
    ['a name with a newline', `printf x > "$DETBUILD_OUT/$(printf 'a\\nb')"`, /artifact "a\\nb".*control character/],
    ['a name with a backslash', 'printf x > "$DETBUILD_OUT/a\\\\b"', /artifact "a\\\\b".*backslash/],
    ['a chain of 130 directories', 'cd $DETBUILD_OUT && for i in $(seq 130); do mkdir d && cd d; done && echo x > f', /deeper than 128/],
    ['a FIFO', 'mkfifo $DETBUILD_OUT/pipe', /special file.*pipe/],
  ])('%s', async (_what, command, message) => {
    const out = freshOut();
    const r = await detbuild(['build', src, '--out', out, '--quiet', '--command', command], { tmp: await freshTmp() });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });
});

