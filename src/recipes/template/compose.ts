/**
 * What a new lock holds, from the choices of `detbuild template lock`: the archives it
 * fetches from, its epoch, and its package set, taken from one of three places (the
 * archive's current versions, a builder's environment record, this machine's dpkg
 * database). The CLI checks which choices go together; this module does the work.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { listInstalledPackages } from '../../record/index.js';
import { aptUpdate, availablePackages, createAptEnv, resolveClosure } from './apt.js';
import { machineArchiveUri } from './archive.js';
import type { Archive, LockedPackage } from './lock.js';
import { BUILDER_ROOTS, builderPackagesHere } from './select.js';

/**
 * The archives of `--archive 'URI [SUITE [COMPONENT...]]'` values (e.g. the distribution, its
 * security archive, Qubes' repository); none given: this machine's apt source serving SUITE,
 * or no archive at all when it has none.
 */
export async function lockArchives(given: readonly string[], suite: string, components: readonly string[]): Promise<Archive[]> {
  const fallback = components.length ? [...components] : ['main'];
  const archives = given.map((a) => {
    const [uri, s, ...c] = a.trim().split(/\s+/);
    return { uri: uri!, suite: s ?? suite, components: c.length ? c : fallback };
  });
  if (archives.length > 0) return archives;
  const uri = await machineArchiveUri(suite);
  return uri ? [{ uri, suite, components: fallback }] : [];
}

/** A snapshot archive's date (…/20250520T000000Z) is the natural epoch of a lock; else today, 00:00 UTC. */
export function defaultEpoch(uri: string, now = Date.now()): number {
  const m = /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(uri);
  if (m) return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
  return Math.floor(now / 86_400_000) * 86_400;
}

/** Where a lock's packages come from. */
export type PackageChoice =
  /** the archive's current versions of NAMES and their closure ('essential': every Essential package): a lock made without a running builder */
  | { from: 'archive'; names: readonly string[]; architecture: string }
  /** this machine's packages: all of them, or the closure of ROOTS (default: a builder's) */
  | { from: 'here'; all: boolean; roots: readonly string[] };

export async function lockPackages(choice: PackageChoice, archives: Archive[]): Promise<{ packages: LockedPackage[]; architecture: string }> {
  if (choice.from === 'archive') {
    const scratch = await mkdtemp(path.join(tmpdir(), 'detbuild-lock-'));
    try {
      const apt = await createAptEnv(scratch, archives, choice.architecture);
      await aptUpdate(apt);
      let names = [...choice.names];
      if (names.includes('essential')) {
        const essential = (await availablePackages(apt)).filter((p) => p.essential).map((p) => p.name);
        names = [...new Set([...names.filter((n) => n !== 'essential'), ...essential])];
      }
      return { packages: await resolveClosure(apt, names), architecture: choice.architecture };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  const architecture = (await execa('dpkg', ['--print-architecture'])).stdout.trim();
  if (choice.all) return { packages: (await listInstalledPackages()).packages, architecture };
  return { packages: await builderPackagesHere(choice.roots.length ? [...choice.roots] : BUILDER_ROOTS), architecture };
}
