/**
 * The copy of the sources each verify run builds from, written the way another
 * checkout would be: in a chosen order, with modes under a chosen umask, with the
 * original file times or the copy's own, owned by a chosen user. What the engine
 * takes from the sources (VCS metadata left out) is what is copied.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { walkTree } from '../engine/sources.js';
import { VerifyError } from './errors.js';

export interface CopyOptions {
  order: 'sorted' | 'reverse';
  umask: number;
  keepTimes: boolean;
  owner: { uid: number; gid: number } | null;
}

export async function copySources(from: string, to: string, opts: CopyOptions): Promise<void> {
  try {
    const entries = await walkTree(from);
    if (opts.order === 'reverse') entries.reverse();
    const dirMode = 0o777 & ~opts.umask;
    const made: string[] = [to];
    const mkdirs = async (dir: string): Promise<void> => {
      const first = await fs.mkdir(dir, { recursive: true });
      if (first === undefined) return;
      // every directory just made, from the first down to `dir`
      for (let d = dir; d.length >= first.length; d = path.dirname(d)) {
        await fs.chmod(d, dirMode);
        made.push(d);
      }
    };
    await mkdirs(to);
    for (const e of entries) {
      const src = path.join(from, e.rel);
      const dst = path.join(to, e.rel);
      if (e.kind === 'dir') {
        await mkdirs(dst);
        continue;
      }
      await mkdirs(path.dirname(dst));
      if (e.kind === 'symlink') {
        await fs.symlink(await fs.readlink(src), dst);
      } else {
        await fs.copyFile(src, dst);
        await fs.chmod(dst, (e.mode & 0o111 ? 0o777 : 0o666) & ~opts.umask);
      }
      if (opts.keepTimes) {
        const st = await fs.lstat(src);
        await fs.lutimes(dst, st.atime, st.mtime);
      }
      if (opts.owner) await fs.lchown(dst, opts.owner.uid, opts.owner.gid);
    }
    // directories last, deepest first: their entries were made after them
    for (const d of [...new Set(made)].sort().reverse()) {
      const rel = path.relative(to, d);
      if (opts.keepTimes && !rel.startsWith('..')) {
        const st = await fs.stat(path.join(from, rel));
        await fs.utimes(d, st.atime, st.mtime);
      }
      if (opts.owner) await fs.chown(d, opts.owner.uid, opts.owner.gid);
    }
  } catch (err) {
    throw new VerifyError('VERIFY_COPY_FAILED', `cannot copy the sources from ${from} to ${to}`, { cause: err });
  }
}
