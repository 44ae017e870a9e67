/**
 * Removing a directory tree a build has written, whatever it did to it: directories mode
 * 0500 or 0000, chains deeper than PATH_MAX, millions of entries. chmod(1) and rm(1) walk
 * with fts (iteratively, through directory descriptors, at any depth); unless run by root
 * (which needs no permission), the modes are opened up first (u+rwx: the build's files are
 * all owned by the user it runs as), and rm never crosses into another file system. A tree that is still there afterwards is an
 * error naming what rm said, never ignored.
 */
import { promises as fs } from 'node:fs';
import { execa } from 'execa';
import { EngineError } from './errors.js';

export async function removeTree(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  // a bind mount from the same file system has the same device number: rm would empty it
  const mounted = await mountsUnder(dir);
  if (mounted.length > 0) throw new EngineError('WORKSPACE_REMOVE', `cannot remove ${dir}: something is mounted inside it (${mounted[0]})`);
  // opens every directory for its owner (symlinks are not followed; errors show up below).
  // root needs none of it, and must not change the modes of whatever might be mounted inside
  if (process.getuid?.() !== 0) await execa('chmod', ['-R', 'u+rwx', '--', dir], { reject: false, stdin: 'ignore' });
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

/** Mount points at or below `dir` (from /proc/self/mountinfo, whose paths are octal-escaped). */
async function mountsUnder(dir: string): Promise<string[]> {
  let info: string;
  try {
    info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const real = await fs.realpath(dir);
  const out: string[] = [];
  for (const line of info.split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const point = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (point === real || point.startsWith(`${real}/`)) out.push(point);
  }
  return out;
}
