/**
 * The minimal lock the template tests regenerate: Debian's Essential:yes set
 * (plus usr-is-merged, which a merged-/usr system installs instead of usrmerge)
 * at the versions the archive this machine reaches serves today, resolved with
 * apt into an empty system. The archive is the machine's own apt source
 * (/etc/apt), never a host name written here. Downloaded .debs are kept in
 * $DETBUILD_CACHE/template-debs between runs.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import {
  aptUpdate,
  availablePackages,
  createAptEnv,
  machineArchiveUri,
  makeLock,
  resolveClosure,
  type AptEnv,
  type TemplateLock,
} from '../../src/recipes/template/index.js';

export const SUITE = 'bookworm';
export const EPOCH = 1_700_000_000;

export function cacheDir(): string {
  return path.join(process.env.DETBUILD_CACHE ?? path.join(homedir(), '.cache', 'detbuild'), 'template-debs');
}

export interface MinimalLock {
  lock: TemplateLock;
  apt: AptEnv;
}

export async function minimalLock(scratch: string): Promise<MinimalLock> {
  const uri = await machineArchiveUri(SUITE);
  if (!uri) throw new Error(`no apt source of this machine serves ${SUITE} (set DETBUILD_TEMPLATE_ARCHIVE)`);
  const archives = [{ uri, suite: SUITE, components: ['main'] }];
  const apt = await createAptEnv(path.join(scratch, 'apt'), archives, 'amd64');
  await aptUpdate(apt);
  const essential = (await availablePackages(apt)).filter((p) => p.essential).map((p) => p.name);
  const packages = await resolveClosure(apt, [...new Set(essential), 'usr-is-merged']);
  await mkdir(cacheDir(), { recursive: true });
  return { lock: makeLock(packages, { suite: SUITE, architecture: 'amd64', archives, epoch: EPOCH }), apt };
}

/** The probe package: its postinst records the time and randomness it sees. */
export const PROBE = { name: 'detbuild-probe', version: '1.0', arch: 'all' } as const;

/**
 * Builds detbuild-probe_1.0_all.deb into `dir` (the .deb cache: a pinned
 * package found there by its fields needs no archive). Its postinst writes
 * /var/lib/detbuild-probe/state: the wall clock in nanoseconds, 16 bytes of
 * /dev/urandom and a kernel UUID, what a careless maintainer script embeds.
 */
export async function buildProbeDeb(dir: string, scratch: string): Promise<void> {
  const root = path.join(scratch, 'probe-pkg');
  await mkdir(path.join(root, 'DEBIAN'), { recursive: true });
  await writeFile(
    path.join(root, 'DEBIAN', 'control'),
    `Package: ${PROBE.name}\nVersion: ${PROBE.version}\nArchitecture: ${PROBE.arch}\nMaintainer: detbuild tests <tests@detbuild.invalid>\nDescription: records time and randomness at installation\n`,
  );
  await writeFile(
    path.join(root, 'DEBIAN', 'postinst'),
    '#!/bin/sh\nset -e\nmkdir -p /var/lib/detbuild-probe\n{ date +%s.%N; od -An -tx1 -N16 /dev/urandom; cat /proc/sys/kernel/random/uuid; } > /var/lib/detbuild-probe/state\n',
    { mode: 0o755 },
  );
  await chmod(path.join(root, 'DEBIAN', 'postinst'), 0o755);
  await execa('dpkg-deb', ['--root-owner-group', '--build', root, path.join(dir, `${PROBE.name}_${PROBE.version}_${PROBE.arch}.deb`)], {
    env: { SOURCE_DATE_EPOCH: String(EPOCH) },
  });
}
