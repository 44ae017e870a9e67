/**
 * What the engine needs from the machine, checked before a build starts so
 * that a missing facility is one clear error rather than a broken build.
 */
import { constants as fsConstants, existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { EngineError } from './errors.js';
import { asHostUser, type HostUser } from './host-user.js';
import { packageRoot } from './version.js';

export function supervisorPath(): string {
  const fromEnv = process.env.DETBUILD_SUPERVISOR;
  return fromEnv && fromEnv.length > 0 ? fromEnv : path.join(packageRoot, 'native', 'detbuild-supervisor');
}

/** The stat shim every dynamic program of a build preloads (src/supervisor/statshim.c), beside the supervisor; absent: none. */
export function statShimPath(): string | null {
  const p = path.join(path.dirname(supervisorPath()), 'libdetbuild-stat.so');
  return existsSync(p) ? p : null;
}

/** Sandbox checks that passed, by the host user that runs builds ('' for the caller itself). */
const checked = new Map<string, Promise<void>>();

export function checkFacilities(needSupervisor: boolean, user: HostUser | null = null): Promise<void> {
  if (needSupervisor && !existsSync(supervisorPath())) {
    return Promise.reject(new EngineError('ENGINE_NO_SUPERVISOR', `the native supervisor is missing at ${supervisorPath()} (Hint: run 'npm run build')`));
  }
  const key = user ? `${user.uid}:${user.gid}` : '';
  let probe = checked.get(key);
  if (!probe) {
    probe = (async () => {
      try {
        const cmd = asHostUser(user, ['bwrap', '--unshare-user', '--unshare-pid', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--', '/bin/true']);
        // the environment the real sandbox gets (src/engine/run.ts): none of the caller's
        // (an LD_PRELOAD such as libfaketime's would break the probe, not the build)
        await execa(cmd[0]!, cmd.slice(1), { cwd: '/', env: {}, extendEnv: false });
      } catch (err) {
        checked.delete(key);
        const as = user ? ` as the build user ${user.name} (running as root, builds run as an unprivileged user; choose another with DETBUILD_BUILD_USER or the daemon's buildUser)` : '';
        throw new EngineError('ENGINE_NO_BWRAP', `bubblewrap cannot create a sandbox here${as} (Hint: install the bubblewrap package and allow unprivileged user namespaces)`, { cause: err });
      }
    })();
    checked.set(key, probe);
  }
  return probe;
}

/** Top-level host entries besides /usr and /etc: merged-/usr symlinks, or directories to bind. */
export async function rootEntries(): Promise<{ symlinks: Map<string, string>; dirs: string[] }> {
  const symlinks = new Map<string, string>();
  const dirs: string[] = [];
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    try {
      const st = await fs.lstat(`/${name}`);
      if (st.isSymbolicLink()) symlinks.set(name, await fs.readlink(`/${name}`));
      else if (st.isDirectory()) dirs.push(name);
    } catch {
      // absent on this machine
    }
  }
  return { symlinks, dirs };
}

/** The CPUs the caller may run on (Cpus_allowed_list: "0-3,6"), in order. */
export async function allowedCpus(): Promise<number[]> {
  try {
    const status = await fs.readFile('/proc/self/status', 'utf8');
    const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1];
    if (list) {
      const cpus: number[] = [];
      for (const part of list.split(',')) {
        const [a, b] = part.split('-').map(Number);
        for (let c = a!; c <= (b ?? a!); c++) cpus.push(c);
      }
      if (cpus.length > 0 && cpus.every(Number.isSafeInteger)) return cpus;
    }
  } catch {
    // fall through
  }
  return [0];
}

/** The first CPU the caller may run on: the build is pinned there (unless it is given one). */
export async function firstAllowedCpu(): Promise<number> {
  return (await allowedCpus())[0]!;
}

/** Whether this user may open /dev/fuse (for the supervisor's entropy file system). */
export async function fuseUsable(): Promise<boolean> {
  // DETBUILD_NO_FUSE=1 forces the fallback (open() trapped), as on a builder without /dev/fuse
  if (process.env.DETBUILD_NO_FUSE === '1') return false;
  try {
    await fs.access('/dev/fuse', fsConstants.R_OK | fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}
