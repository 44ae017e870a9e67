/**
 * A disorderfs mount for tests that put a build's workspace on another file
 * system (reprotest's "file ordering" variation; also what a rebuilder with
 * its TMPDIR on sshfs or another FUSE file system has). Needs root
 * (--multi-user) and /dev/fuse.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

/** Why disorderfs cannot be mounted here (one line), or null. */
export function disorderfsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root (disorderfs --multi-user needs root)';
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
  if (!['/usr/bin/disorderfs', '/bin/disorderfs'].some(existsSync)) return 'disorderfs is not installed';
  return null;
}

/**
 * Mounts `lower` at `mount` (both made), its daemon started under `wrap`
 * (e.g. taskset and nice), and makes `mount`/tmp a sticky world-writable
 * TMPDIR for the build user. Returns the unmount function.
 */
export async function mountDisorderfs(lower: string, mount: string, wrap: string[] = []): Promise<{ tmpdir: string; unmount: () => Promise<void> }> {
  await mkdir(lower, { recursive: true });
  await mkdir(mount, { recursive: true });
  const argv = [...wrap, 'disorderfs', '--shuffle-dirents=yes', '--multi-user=yes', '-o', 'allow_other', lower, mount];
  await execa(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  const tmpdir = path.join(mount, 'tmp');
  await mkdir(tmpdir);
  await chmod(tmpdir, 0o1777);
  return { tmpdir, unmount: async () => void (await execa('fusermount', ['-u', mount], { reject: false })) };
}
