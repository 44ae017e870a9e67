/**
 * The minimal lock the template tests regenerate: Debian's Essential:yes set
 * (plus usr-is-merged, which a merged-/usr system installs instead of usrmerge)
 * at the versions the archive this machine reaches serves today, resolved with
 * apt into an empty system. The archive is the machine's own apt source
 * (/etc/apt), never a host name written here. Downloaded .debs are kept in
 * $DETBUILD_CACHE/template-debs between runs.
 */
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
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
