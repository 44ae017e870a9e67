/**
 * Version-control metadata in a source tree: which entries are checkout
 * metadata (never hashed, never copied into the sandbox), and the commit a git
 * work tree has checked out.
 */
import { existsSync, realpathSync } from 'node:fs';
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

/** The nearest directory from `dir` upwards that holds a `.git`, or null. */
function gitTop(dir: string): string | null {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, '.git'))) return d;
    if (path.dirname(d) === d) return null;
  }
}

/** git on exactly the repository at `top`, with no system or user configuration, whoever owns it. */
async function git(top: string, args: string[]) {
  const gitDir = path.join(top, '.git');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LC_ALL: 'C', HOME: '/nonexistent' };
  const r = await execa(
    'git',
    ['-c', 'safe.directory=*', '-c', 'core.fsmonitor=false', '-c', 'core.hooksPath=/dev/null', '--no-replace-objects', `--git-dir=${gitDir}`, `--work-tree=${top}`, ...args],
    { reject: false, env, extendEnv: false, stdin: 'ignore', timeout: 60_000 },
  );
  if ((r as { code?: string }).code === 'ENOENT') {
    throw new SpecError('SOURCE_GIT_MISSING', `${top} is a git work tree but git is not installed (install git, or choose the epoch with --epoch)`);
  }
  return r;
}

/**
 * HEAD of the git work tree the sources at `root` belong to: `root` itself when
 * it holds `.git`, else the nearest enclosing work tree whose HEAD has `root` as
 * a directory (a project in a subdirectory of its repository; an untracked
 * directory below, say, a home directory kept in git is not part of it). Null
 * when there is none, or it has no commit yet. git runs with no system or user
 * configuration and on exactly that repository, whoever owns it
 * (safe.directory), so the answer depends on the repository alone.
 */
export async function gitHead(root: string): Promise<GitHead | null> {
  let real: string;
  try {
    real = realpathSync(root);
  } catch {
    return null;
  }
  const top = gitTop(real);
  if (top === null) return null;
  if (top !== real) {
    const rel = path.relative(top, real).split(path.sep).join('/');
    const kind = await git(top, ['cat-file', '-t', `HEAD:${rel}`]);
    if (kind.exitCode !== 0 || String(kind.stdout).trim() !== 'tree') return null;
  }
  const r = await git(top, ['log', '-1', '--no-show-signature', '--format=%H %ct', 'HEAD', '--']);
  const m = /^([0-9a-f]{40,64}) (\d+)$/.exec(String(r.stdout).trim());
  if (r.exitCode === 0 && m) return { commit: m[1]!, committerTime: Number(m[2]) };
  // a repository without a commit yet (git init, nothing committed): no revision to date
  if (/does not have any commits yet|bad revision 'HEAD'/.test(String(r.stderr))) return null;
  const why = String(r.stderr).trim().split('\n').at(-1) ?? '';
  throw new SpecError('SOURCE_GIT_UNREADABLE', `cannot read the HEAD commit of the git work tree ${top}: ${why || `git exited with status ${r.exitCode}`} (or choose the epoch with --epoch)`);
}
