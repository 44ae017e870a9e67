/**
 * Version-control metadata in a source tree: which entries are checkout
 * metadata (never hashed, never copied into the sandbox), and the commit a git
 * work tree has checked out.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { SpecError } from './errors.js';

/**
 * Names of VCS metadata, at any depth: git (a directory, or a file in work trees
 * and submodules), Mercurial, Subversion, Bazaar, darcs, CVS. They hold the
 * checkout's own state (git's index records each file's stat data, a worktree's
 * `.git` file its absolute path), so two checkouts of one commit differ there.
 */
export const VCS_METADATA: ReadonlySet<string> = new Set(['.git', '.hg', '.svn', '.bzr', '_darcs', 'CVS']);

export function isVcsMetadata(name: string): boolean {
  return VCS_METADATA.has(name);
}

export interface GitHead {
  /** the commit id of HEAD */
  commit: string;
  /** HEAD's committer date, seconds since 1970 */
  committerTime: number;
}

/**
 * HEAD of the git work tree at `root` (only when `root` itself is its top:
 * `root/.git` exists), or null when it is none or has no commit yet. git runs
 * with no system or user configuration, on exactly this repository (no search
 * upwards), and whoever owns it (safe.directory), so the answer depends on the
 * repository alone.
 */
export async function gitHead(root: string): Promise<GitHead | null> {
  const gitDir = path.join(root, '.git');
  if (!existsSync(gitDir)) return null;
  const args = [
    '-c', 'safe.directory=*',
    '-c', 'core.fsmonitor=false',
    '-c', 'core.hooksPath=/dev/null',
    '--no-replace-objects',
    `--git-dir=${gitDir}`,
    `--work-tree=${root}`,
    'log', '-1', '--no-show-signature', '--format=%H %ct', 'HEAD', '--',
  ];
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LC_ALL: 'C', HOME: '/nonexistent' };
  const r = await execa('git', args, { reject: false, env, extendEnv: false, stdin: 'ignore', timeout: 60_000 });
  if ((r as { code?: string }).code === 'ENOENT') {
    throw new SpecError('SOURCE_GIT_MISSING', `${root} is a git work tree but git is not installed (install git, or choose the epoch with --epoch)`);
  }
  const m = /^([0-9a-f]{40,64}) (\d+)$/.exec(String(r.stdout).trim());
  if (r.exitCode === 0 && m) return { commit: m[1]!, committerTime: Number(m[2]) };
  const why = String(r.stderr).trim().split('\n').at(-1) ?? '';
  // a repository without a commit yet (git init, nothing committed): not a revision
  if (/does not have any commits yet|bad revision 'HEAD'/.test(String(r.stderr))) return null;
  throw new SpecError('SOURCE_GIT_UNREADABLE', `cannot read the HEAD commit of the git work tree ${root}: ${why || `git exited with status ${r.exitCode}`} (or choose the epoch with --epoch)`);
}
