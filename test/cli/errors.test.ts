/**
 * Bad input to `detbuild build` (and usage errors of every command, which share
 * its option parsing): each case ends with one error line on stderr,
 * `detbuild: ...`, as its last line (live build-log lines, prefixed
 * `HH:MM:SS `, may come before it), and an exit status of its own:
 * 2 usage, 3 bad input paths, 4 build failed.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { freshDir } from '../helpers/trees.js';

const EXIT_USAGE = 2;
const EXIT_BAD_PATH = 3;
const EXIT_BUILD_FAILED = 4;

/** live build-log lines carry a time prefix; anything else on stderr is the CLI's own */
const LOG_LINE = /^\d\d:\d\d:\d\d /;

let root: string;
let src: string;

beforeAll(async () => {
  root = await freshDir('cli-errors');
  src = path.join(root, 'src');
  await mkdir(src);
  await writeFile(path.join(src, 'Makefile'), 'all:\n\tmkdir -p "$$DETBUILD_OUT" && echo hi >"$$DETBUILD_OUT/hi.txt"\n');
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** The CLI's own stderr lines (build-log lines left out): exactly one, last, `detbuild: `-prefixed. */
function expectOneErrorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  const own = lines.filter((l) => !LOG_LINE.test(l));
  expect(own, `stderr:\n${stderr}`).toHaveLength(1);
  expect(lines.at(-1), `stderr:\n${stderr}`).toBe(own[0]);
  expect(own[0]).toMatch(/^detbuild: \S/);
  return own[0]!;
}

describe('detbuild build: bad input', () => {
  const cases: Array<{ name: string; args: () => Promise<string[]>; status: number; mentions?: () => string }> = [
    {
      name: 'an unknown flag',
      args: async () => ['build', src, '--out', path.join(root, 'out-flag'), '--frobnicate'],
      status: EXIT_USAGE,
      mentions: () => '--frobnicate',
    },
    {
      name: 'no source directory and no --out',
      args: async () => ['build'],
      status: EXIT_USAGE,
    },
    {
      name: 'a missing source directory',
      args: async () => ['build', path.join(root, 'no-such-src'), '--out', path.join(root, 'out-missing')],
      status: EXIT_BAD_PATH,
      mentions: () => path.join(root, 'no-such-src'),
    },
    {
      name: 'an output directory that exists and is not empty',
      args: async () => {
        const out = path.join(root, 'out-full');
        await mkdir(out, { recursive: true });
        await writeFile(path.join(out, 'keep.txt'), 'precious\n');
        return ['build', src, '--out', out];
      },
      status: EXIT_BAD_PATH,
      mentions: () => path.join(root, 'out-full'),
    },
  ];

  for (const c of cases) {
    it(`${c.name}: exit ${c.status}, one error line`, async () => {
      const res = await runCli(await c.args());
      expect(res.exitCode, `stderr:\n${res.stderr}`).toBe(c.status);
      const line = expectOneErrorLine(res.stderr);
      if (c.mentions) expect(line).toContain(c.mentions());
    });
  }

  it('leaves a non-empty output directory as it was', async () => {
    const out = path.join(root, 'out-full');
    expect(await readdir(out)).toEqual(['keep.txt']);
    expect(await readFile(path.join(out, 'keep.txt'), 'utf8')).toBe('precious\n');
  });

  it(`a failing build command: exit ${EXIT_BUILD_FAILED}, one error line, no result, the log kept beside it`, async () => {
    const out = path.join(root, 'out-fail');
    const res = await runCli(['build', src, '--out', out, '--command', 'echo about to fail; exit 7']);
    expect(res.exitCode, `stderr:\n${res.stderr}`).toBe(EXIT_BUILD_FAILED);
    expectOneErrorLine(res.stderr);
    expect(existsSync(out), 'no result directory for a failed build').toBe(false);
    expect(await readFile(`${out}.failed.log`, 'utf8')).toContain('about to fail');
  });
});

describe('every command: a usage error is one line and exit 2, the same for the same mistake', () => {
  it.each([
    ['build', ['build', 'x', '--out', 'y', '--epoch', '1.5'], "--epoch: expected a non-negative integer, got '1.5'"],
    ['remote', ['remote', 'x', '--out', 'y', '--epoch', '1.5'], "--epoch: expected a non-negative integer, got '1.5'"],
    ['deb', ['deb', 'x.dsc', '--out', 'y', '--seed', 'XYZ'], '--seed: expected'],
    ['remote', ['remote', 'x', '--out', 'y', '--seed', 'XYZ'], '--seed: expected'],
    ['rpm', ['rpm', 'x.src.rpm'], '--out OUT_DIR is required'],
    ['remote', ['remote', 'x'], '--out OUT_DIR is required'],
    ['rebuild', ['rebuild', 'p.json'], '--out OUT_DIR is required'],
    ['remote', ['remote', 'x', '--out', 'y', '--frobnicate'], '--frobnicate'],
    ['info', ['info', '--frobnicate'], '--frobnicate'],
    ['template', ['template', 'fetch', '--frobnicate'], '--frobnicate'],
    ['remote', ['remote', 'x', '--out', 'y', '--nocheck'], '--nocheck belongs to --dsc, --srpm or --spec'],
  ])('detbuild %s: %j', async (_cmd, args, says) => {
    const r = await runCli(args, { cwd: root });
    expect(r.exitCode, r.stderr).toBe(EXIT_USAGE);
    expect(expectOneErrorLine(r.stderr)).toContain(says);
    expect(r.stdout).toBe('');
  });

  it.each(['rpm', 'remote', 'info', 'rebuild', 'agree', 'template fetch', 'template build'])('detbuild %s --help: the option table, on stdout, exit 0', async (cmd) => {
    const r = await runCli([...cmd.split(' '), '--help']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^usage: detbuild ${cmd.split(' ')[0]}`));
    expect(r.stdout).toMatch(/\noptions:\n/);
    expect(r.stdout).toContain('-h, --help');
  });
});
