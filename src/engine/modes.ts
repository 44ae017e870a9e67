/**
 * The one rule for the modes of files that cross a boundary (sources into a workspace,
 * artifacts out of a build, locally or over the wire): only whether a file is executable
 * survives. Files become 0755 or 0644, directories 0755; no setuid, setgid or sticky bit,
 * no group- or world-writable file, nothing the caller's umask decides.
 */
import { execa } from 'execa';

export const DIR_MODE = 0o755;

export function isExecutable(mode: number): boolean {
  return (mode & 0o111) !== 0;
}

export function fileMode(executable: boolean): number {
  return executable ? 0o755 : 0o644;
}

/** The same rule as a chmod(1) mode, for whole trees (any depth; symlinks are neither followed nor changed). */
export const CHMOD_RULE = 'a-st,u+rwX,go=u-w';

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Applies the rule to every file and directory under `dir` (and `dir` itself), and gives
 * them (symlinks included) to `owner` when one is named.
 */
export async function normaliseTree(dir: string, owner?: Owner): Promise<void> {
  // chown first: it clears setuid bits itself, and the mode is then set by its owner's rule
  if (owner) await execa('chown', ['-R', '-h', `${owner.uid}:${owner.gid}`, '--', dir]);
  await execa('chmod', ['-R', CHMOD_RULE, '--', dir]);
}
