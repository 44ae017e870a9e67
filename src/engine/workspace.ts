/**
 * A build's workspace: a fresh directory under the temporary directory holding the copy of
 * the sources (src), the output (out), HOME (home) and the engine's replaced host files
 * (view). When builds run as another host user (host-user.ts), src, out and home are
 * theirs, the rest stays the engine's and the top directory is only traversable (0711);
 * a TMPDIR that user cannot reach (under a 0700 directory of root's) is replaced by /tmp,
 * since bubblewrap, started as that user, must open the workspace's directories by path.
 *
 * Removal cannot be defeated by what the build left (remove-tree.ts); a removal that fails
 * anyway is retried, reported through `warn` with the path, and tried again before the
 * next build of this process.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeError } from '../errors.js';
import { EngineError } from './errors.js';
import type { HostUser } from './host-user.js';
import { removeTree } from './remove-tree.js';

export interface Workspace {
  path: string;
  src: string;
  out: string;
  home: string;
  view: string;
}

export async function makeWorkspace(user: HostUser | null): Promise<Workspace> {
  let base = tmpdir();
  if (user && !(await reachable(base, user))) {
    if (!(await reachable('/tmp', user))) {
      throw new EngineError('ENGINE_WORKSPACE', `the build user ${user.name} can reach neither ${base} nor /tmp, where the workspace would be (set TMPDIR to a directory it can search)`);
    }
    base = '/tmp';
  }
  const top = await fs.mkdtemp(path.join(base, 'detbuild-ws-'));
  const ws: Workspace = { path: top, src: path.join(top, 'src'), out: path.join(top, 'out'), home: path.join(top, 'home'), view: path.join(top, 'view') };
  try {
    if (user) await fs.chmod(top, 0o711);
    // explicit modes: the caller's umask (077) must not lock the build user out
    for (const d of [ws.src, ws.out, ws.home, ws.view]) {
      await fs.mkdir(d);
      await fs.chmod(d, 0o755);
    }
    if (user) for (const d of [ws.src, ws.out, ws.home]) await fs.chown(d, user.uid, user.gid);
  } catch (err) {
    await removeTree(top).catch(() => undefined);
    throw err;
  }
  return ws;
}

/** Whether `user` (no supplementary groups) may search every directory from / down to `dir`. */
async function reachable(dir: string, user: HostUser): Promise<boolean> {
  let real: string;
  try {
    real = await fs.realpath(dir);
  } catch {
    return false;
  }
  let cur = '/';
  for (const part of ['', ...real.split('/').filter(Boolean)]) {
    cur = path.join(cur, part);
    const st = await fs.stat(cur);
    const bit = st.uid === user.uid ? 0o100 : st.gid === user.gid ? 0o010 : 0o001;
    if (!st.isDirectory() || (st.mode & bit) === 0) return false;
  }
  return true;
}

/** Workspaces whose removal failed, tried again before the next build. */
const leftovers = new Set<string>();

const RETRY_DELAYS_MS = [200, 1000];

/** Removes a workspace, retrying; reports a failure through `warn` (never silently). */
export async function removeWorkspace(dir: string, warn: (message: string) => void): Promise<boolean> {
  let last: unknown;
  for (let attempt = 0; attempt <= RETRY_DELAYS_MS.length; attempt++) {
    try {
      await removeTree(dir);
      leftovers.delete(dir);
      return true;
    } catch (err) {
      last = err;
      const delay = RETRY_DELAYS_MS[attempt];
      if (delay !== undefined) await new Promise((r) => setTimeout(r, delay));
    }
  }
  leftovers.add(dir);
  warn(`cannot remove the workspace ${dir} (will try again before the next build): ${describeError(last)}`);
  return false;
}

/** Tries once more to remove the workspaces earlier removals left; reports those still there. */
export async function retryLeftoverWorkspaces(warn: (message: string) => void): Promise<void> {
  for (const dir of [...leftovers]) {
    try {
      await removeTree(dir);
      leftovers.delete(dir);
    } catch (err) {
      warn(`the workspace ${dir} of an earlier build is still there: ${describeError(err)}`);
    }
  }
}

/** The workspaces not removed so far (for tests and reports). */
export function leftoverWorkspaces(): string[] {
  return [...leftovers];
}
