/**
 * Real git repositories and clones for the tests of the source defaults: a
 * repository made from a fixture with one commit at a fixed date, and clones of
 * it made the way different people would (another time, path, umask, user).
 */
import { execa } from 'execa';
import { chmod, chown, cp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** git with no user or system configuration of this machine (the tests' own identity). */
export async function git(args: string[], opts: { cwd?: string; env?: Record<string, string>; as?: 'nobody'; umask?: string } = {}): Promise<string> {
  const env = { GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: '/nonexistent', XDG_CONFIG_HOME: '/nonexistent', ...opts.env };
  let argv = ['git', '-c', 'init.defaultBranch=main', '-c', 'user.name=detbuild test', '-c', 'user.email=test@example.invalid', ...args];
  if (opts.as === 'nobody') {
    // another user reads a repository of root's: git must be told it is safe (protected, i.e. global, config)
    const cfg = path.join(opts.cwd ?? tmpdir(), 'nobody.gitconfig');
    await writeFile(cfg, '[safe]\n\tdirectory = *\n', { mode: 0o644 });
    env.GIT_CONFIG_GLOBAL = cfg;
    // a home of its own, where git finds no configuration and may look without a permission error
    env.HOME = opts.cwd ?? tmpdir();
    env.XDG_CONFIG_HOME = env.HOME;
    argv = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', ...argv];
  }
  if (opts.umask) argv = ['sh', '-c', `umask ${opts.umask} && exec "$@"`, 'sh', ...argv];
  const r = await execa(argv[0]!, argv.slice(1), { cwd: opts.cwd, env, extendEnv: true, stdin: 'ignore' });
  return r.stdout;
}

export const COMMIT_DATE = '2024-05-01T12:00:00Z';
export const COMMIT_EPOCH = Date.parse(COMMIT_DATE) / 1000;

/** A repository at DIR/origin holding a copy of `fixture`, one commit dated COMMIT_DATE; world-readable. */
export async function repositoryOf(fixture: string, dir: string): Promise<string> {
  const origin = path.join(dir, 'origin');
  await cp(fixture, origin, { recursive: true });
  await chmod(dir, 0o755);
  await git(['init', '-q'], { cwd: origin });
  await git(['add', '-A'], { cwd: origin });
  await git(['commit', '-q', '-m', 'fixture'], { cwd: origin, env: { GIT_AUTHOR_DATE: COMMIT_DATE, GIT_COMMITTER_DATE: COMMIT_DATE } });
  return origin;
}

/** `git clone` of `origin` into `dest` (its parent made), as root or as nobody, under a umask. */
export async function cloneAs(origin: string, dest: string, opts: { as?: 'nobody'; umask?: string } = {}): Promise<string> {
  await mkdir(path.dirname(dest), { recursive: true });
  if (opts.as === 'nobody') await chown(path.dirname(dest), 65534, 65534);
  await git(['clone', '-q', origin, dest], { cwd: path.dirname(dest), ...opts });
  return dest;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
