/**
 * A scratch Debian bookworm root (mmdebstrap into a tarball, cached by its
 * package list) in which the VM package is installed with dpkg -i in a chroot.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const SUITE = 'bookworm';
/** The same archive areas a Qubes Debian 12 template updates from. */
export const SOURCES = [
  'deb http://deb.debian.org/debian bookworm main',
  'deb http://deb.debian.org/debian bookworm-updates main',
  'deb http://deb.debian.org/debian-security bookworm-security main',
];
export const CACHE_DIR = process.env['DETBUILD_TEST_CACHE'] ?? '/var/cache/qubes-detbuild-test';

export function canBuildRoots(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (chroot, mmdebstrap in root mode)';
  try {
    execFileSync('mmdebstrap', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'mmdebstrap is not installed';
  }
  return null;
}

/** Package names of a Depends field, alternatives and versions dropped. */
export function dependsNames(depends: string): string[] {
  return depends
    .split(',')
    .map((d) => d.split('|')[0]!.trim().split(/[\s(]/)[0]!)
    .filter(Boolean)
    .sort();
}

/**
 * A tarball of a minbase root with `packages` installed, made once per package
 * list (and suite, sources) and then reused: the first run takes about half a
 * minute, later ones only unpack it.
 */
export function rootTarball(packages: string[]): string {
  const key = createHash('sha256')
    .update(JSON.stringify({ v: 1, SUITE, SOURCES, packages: [...packages].sort() }))
    .digest('hex')
    .slice(0, 16);
  const tarball = join(CACHE_DIR, `${SUITE}-${key}.tar`);
  if (existsSync(tarball)) return tarball;
  mkdirSync(CACHE_DIR, { recursive: true });
  const partial = `${tarball}.partial-${process.pid}.tar`;
  try {
    execFileSync(
      'mmdebstrap',
      ['--quiet', '--variant=minbase', `--include=${packages.join(',')}`, SUITE, partial, ...SOURCES],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 },
    );
    renameSync(partial, tarball);
  } finally {
    rmSync(partial, { force: true });
  }
  return tarball;
}

export function unpackRoot(tarball: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-C', dir, '--numeric-owner', '-xpf', tarball]);
}

/** Runs a command in the root, without the host's Node-specific environment. */
export function inRoot(
  dir: string,
  argv: string[],
  opts: { input?: string; env?: Record<string, string>; timeout?: number } = {},
): string {
  return execFileSync('chroot', [dir, ...argv], {
    encoding: 'utf8',
    input: opts.input,
    timeout: opts.timeout ?? 60_000,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root', ...opts.env },
  });
}
