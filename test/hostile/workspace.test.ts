/**
 * Removing workspaces: a removal that fails is reported (with the path) and retried before
 * the next build, never swallowed. A bind mount inside the workspace stands for what the
 * build cannot do but something else might (rm never crosses into another file system).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { leftoverWorkspaces, makeWorkspace, removeWorkspace, retryLeftoverWorkspaces } from '../../src/engine/workspace.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const cleanup: string[] = [];
afterAll(async () => {
  for (const d of cleanup) await rm(d, { recursive: true, force: true });
});

describe('workspace removal', () => {
  it('a removal that fails is a warning naming the workspace, and is retried before the next build', async () => {
    if (!isRoot) return console.info('skipped: needs root (a bind mount stands for the failure)');
    const ws = await makeWorkspace(null);
    const elsewhere = await mkdtemp(path.join(tmpdir(), 'detbuild-hostile-mounted-'));
    cleanup.push(elsewhere);
    await writeFile(path.join(elsewhere, 'keep'), 'not the workspace\'s\n');
    const mnt = path.join(ws.src, 'mnt');
    await mkdir(mnt);
    await run('mount', ['--bind', elsewhere, mnt]);
    const warnings: string[] = [];
    try {
      expect(await removeWorkspace(ws.path, (m) => warnings.push(m))).toBe(false);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(ws.path);
      expect(warnings[0]).toMatch(/cannot remove the workspace .*will try again/);
      expect(leftoverWorkspaces()).toContain(ws.path);
      // what was mounted there is untouched
      expect(existsSync(path.join(elsewhere, 'keep'))).toBe(true);
    } finally {
      await run('umount', [mnt]);
    }
    const later: string[] = [];
    await retryLeftoverWorkspaces((m) => later.push(m));
    expect(later).toEqual([]);
    expect(existsSync(ws.path)).toBe(false);
    expect(leftoverWorkspaces()).toEqual([]);
  });
});
