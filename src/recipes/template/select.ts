/**
 * Making a lock file: the exact package set of a running builder, taken from
 * its environment record (`detbuild info`, `qubes.DetBuild+info`) or from this
 * machine's dpkg database, and the archive to fetch it from.
 */
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { EnvironmentRecordSchema, type InstalledPackage } from '../../record/index.js';
import { TemplateError } from './errors.js';
import { LOCK_FORMAT, normalizeLock, type Archive, type LockedPackage, type TemplateLock } from './lock.js';

/**
 * The packages a builder needs on top of Debian's essential set: what
 * qubes-detbuild-vm depends on (packaging/debian/control.in), and the tools of
 * the template recipe, so that a builder can regenerate its own next image.
 */
export const BUILDER_ROOTS = ['nodejs', 'libc6', 'libseccomp2', 'bubblewrap', 'dbus', 'passwd', 'mmdebstrap', 'fakechroot', 'fakeroot', 'e2fsprogs', 'dpkg-dev'];

/** Reads an environment record (the JSON `detbuild info --json` / `+info` prints) and returns its packages. */
export async function packagesFromRecordFile(file: string): Promise<{ packages: InstalledPackage[]; architecture: string; codename: string | null }> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new TemplateError('TEMPLATE_RECORD_INVALID', `cannot read the environment record ${file}`, { cause: err });
  }
  // the record itself, or an object holding it (a build's result carries it under `record`)
  const candidate = (data as { record?: unknown }).record ?? data;
  const r = EnvironmentRecordSchema.safeParse(candidate);
  if (!r.success) throw new TemplateError('TEMPLATE_RECORD_INVALID', `${file} is not a detbuild environment record`, { cause: r.error });
  const env = r.data.environment;
  if (env.packageManager !== 'dpkg') throw new TemplateError('TEMPLATE_RECORD_INVALID', `${file} records a ${env.packageManager} system; template locks are for Debian builders`);
  return { packages: env.packages, architecture: env.architecture, codename: env.osRelease.VERSION_CODENAME ?? null };
}

interface StatusEntry {
  name: string;
  arch: string;
  version: string;
  essential: boolean;
  deps: string[][];
}

/** Parses `dpkg-query -W` output of name, arch, version, essential, pre-depends and depends. */
export function parseStatusDeps(text: string): StatusEntry[] {
  const out: StatusEntry[] = [];
  for (const line of text.split('\n')) {
    const [status, name, arch, version, essential, pre, deps] = line.split('\t');
    if (!status || !name || status[1] !== 'i') continue;
    const rel = [pre, deps].filter(Boolean).join(', ');
    const groups = rel
      ? rel.split(',').map((g) => g.split('|').map((alt) => alt.trim().split(/[\s(]/)[0]!).filter(Boolean))
      : [];
    out.push({ name, arch: arch ?? '', version: version ?? '', essential: essential === 'yes', deps: groups });
  }
  return out;
}

/**
 * The installed closure of `roots` plus every Essential package, over hard
 * dependencies, each alternative resolved to what is installed (what apt chose
 * on this machine), virtual packages to their installed providers.
 */
export function closureOf(entries: StatusEntry[], roots: string[], provides: Map<string, string[]>): StatusEntry[] {
  const byName = new Map<string, StatusEntry[]>();
  for (const e of entries) byName.set(e.name, [...(byName.get(e.name) ?? []), e]);
  const resolve = (n: string): StatusEntry[] => {
    const bare = n.replace(/:any$|:[a-z0-9-]+$/, '');
    const direct = byName.get(bare);
    if (direct) return direct;
    for (const p of provides.get(bare) ?? []) if (byName.has(p)) return byName.get(p)!;
    return [];
  };
  const seen = new Set<StatusEntry>();
  const queue: StatusEntry[] = [...entries.filter((e) => e.essential)];
  for (const r of roots) {
    const found = resolve(r);
    if (found.length === 0) throw new TemplateError('TEMPLATE_SELECT', `package ${r} is not installed here`);
    queue.push(...found);
  }
  while (queue.length) {
    const e = queue.pop()!;
    if (seen.has(e)) continue;
    seen.add(e);
    for (const group of e.deps) {
      for (const alt of group) {
        const found = resolve(alt);
        if (found.length) {
          queue.push(...found);
          break;
        }
      }
    }
  }
  return [...seen];
}

/** This machine's builder package set: the closure of `roots` in the dpkg database. */
export async function builderPackagesHere(roots: string[] = BUILDER_ROOTS): Promise<LockedPackage[]> {
  const fmt = '${db:Status-Abbrev}\t${Package}\t${Architecture}\t${Version}\t${Essential}\t${Pre-Depends}\t${Depends}\t${Provides}\n';
  let text: string;
  try {
    text = (await execa('dpkg-query', ['-W', '-f', fmt], { maxBuffer: 256 * 1024 * 1024 })).stdout;
  } catch (err) {
    throw new TemplateError('TEMPLATE_SELECT', 'cannot read the dpkg database (dpkg-query)', { cause: err });
  }
  const provides = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (!f[0] || f[0][1] !== 'i' || !f[7]) continue;
    for (const v of f[7].split(',')) {
      const name = v.trim().split(/[\s(]/)[0]!;
      if (name) provides.set(name, [...(provides.get(name) ?? []), f[1]!]);
    }
  }
  return closureOf(parseStatusDeps(text), roots, provides).map((e) => ({ name: e.name, version: e.version, arch: e.arch }));
}

export interface LockChoices {
  suite: string;
  architecture: string;
  archives: Archive[];
  epoch: number;
  imageSizeMiB?: number;
}

export function makeLock(packages: LockedPackage[], c: LockChoices): TemplateLock {
  return normalizeLock({
    format: LOCK_FORMAT,
    suite: c.suite,
    architecture: c.architecture,
    archives: c.archives,
    epoch: c.epoch,
    ...(c.imageSizeMiB !== undefined ? { imageSizeMiB: c.imageSizeMiB } : {}),
    packages: packages.map((p) => ({ name: p.name, version: p.version, arch: p.arch })),
  });
}
