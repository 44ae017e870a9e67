/**
 * Removing a directory tree a build has written, whatever it did to it: directories mode
 * 0500 or 0000, chains deeper than PATH_MAX, millions of entries. chmod(1) and rm(1) walk
 * with fts (iteratively, through directory descriptors, at any depth); the modes are
 * opened up first (u+rwx: the build's files are all owned by the user it runs as), and rm
 * never crosses into another file system. A tree that is still there afterwards is an
 * error naming what rm said, never ignored.
 */
import { promises as fs } from 'node:fs';
import { execa } from 'execa';
import { EngineError } from './errors.js';

export async function removeTree(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  // opens every directory for its owner (symlinks are not followed); errors show up below
  await execa('chmod', ['-R', 'u+rwx', '--', dir], { reject: false, stdin: 'ignore' });
  const rm = await execa('rm', ['-rf', '--one-file-system', '--', dir], { reject: false, stdin: 'ignore' });
  if (await exists(dir)) {
    const said = rm.stderr.trim().split('\n').slice(-1)[0] || `rm exited with ${rm.exitCode}`;
    throw new EngineError('WORKSPACE_REMOVE', `cannot remove ${dir}: ${said}`);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
