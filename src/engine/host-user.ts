/**
 * The host user a build's processes are started as. bubblewrap maps the build's uid to the
 * uid that starts it: a build started by root would have root's access to every host file
 * the sandbox shows (it read /etc/shadow through the read-only /etc). So when the engine
 * runs as root, it starts the sandbox as an unprivileged user instead (`nobody` unless
 * configured), gives it the workspace, and takes the artifacts back for the caller.
 * Run by anyone else, the build runs as that user, who has no more than the caller.
 */
import { readFileSync } from 'node:fs';
import { EngineError } from './errors.js';

export const DEFAULT_BUILD_USER = 'nobody';

export interface HostUser {
  name: string;
  uid: number;
  gid: number;
}

/** Reads a user (a name, `UID` or `UID:GID`) from /etc/passwd; refuses root. */
export function lookupHostUser(spec: string, passwd = '/etc/passwd'): HostUser {
  const numeric = /^(\d+)(?::(\d+))?$/.exec(spec);
  let user: HostUser | null = null;
  if (numeric) {
    const uid = Number(numeric[1]);
    user = { name: spec, uid, gid: numeric[2] === undefined ? uid : Number(numeric[2]) };
  } else {
    let text = '';
    try {
      text = readFileSync(passwd, 'utf8');
    } catch (err) {
      throw new EngineError('ENGINE_BUILD_USER', `cannot read ${passwd} to find the build user ${spec}`, { cause: err });
    }
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f[0] === spec && f.length >= 4) user = { name: spec, uid: Number(f[2]), gid: Number(f[3]) };
    }
  }
  if (!user || !Number.isSafeInteger(user.uid) || !Number.isSafeInteger(user.gid)) {
    throw new EngineError('ENGINE_BUILD_USER', `the build user ${JSON.stringify(spec)} does not exist here (running as root, builds run as an unprivileged user: create it, or name another with DETBUILD_BUILD_USER or the daemon's buildUser)`);
  }
  if (user.uid === 0 || user.gid === 0) {
    throw new EngineError('ENGINE_BUILD_USER', `the build user ${JSON.stringify(spec)} is root: a build must never run with root's access to the host`);
  }
  return user;
}

/**
 * The user builds are started as, or null when the engine is not root (builds then run as
 * the caller). `configured`: the daemon's choice; else $DETBUILD_BUILD_USER, else nobody.
 */
export function buildHostUser(configured?: string): HostUser | null {
  if (process.getuid?.() !== 0) return null;
  const fromEnv = process.env.DETBUILD_BUILD_USER;
  return lookupHostUser(configured ?? (fromEnv && fromEnv.length > 0 ? fromEnv : DEFAULT_BUILD_USER));
}

/** `command` started as `user` (all supplementary groups and capabilities dropped), or as it is. */
export function asHostUser(user: HostUser | null, command: string[]): string[] {
  if (!user) return command;
  return ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', ...command];
}
