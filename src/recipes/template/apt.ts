/**
 * A private apt environment for one lock file: its own sources, lists, cache and
 * (empty) dpkg status under a scratch directory, so that fetching never reads or
 * changes the machine's own apt state. Runs outside the engine (it needs the
 * network): phase 1 of a regeneration.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { TemplateError } from './errors.js';
import type { Archive, LockedPackage } from './lock.js';

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

export interface AptEnv {
  dir: string;
  /** environment for apt-get and apt-cache (APT_CONFIG) */
  env: Record<string, string>;
}

/** One sources.list line per archive (one-line format, sources.list(5)). */
export function sourcesList(archives: Archive[], architecture: string): string {
  return archives
    .map((a) => `deb [arch=${architecture} signed-by=${a.signedBy ?? DEBIAN_KEYRING}] ${a.uri} ${a.suite} ${a.components.join(' ')}\n`)
    .join('');
}

/** Writes the apt configuration of a private environment under `dir`. */
export async function createAptEnv(dir: string, archives: Archive[], architecture: string): Promise<AptEnv> {
  const d = (...p: string[]) => path.join(dir, ...p);
  for (const sub of ['lists/partial', 'cache/archives/partial', 'etc/apt.conf.d', 'etc/preferences.d', 'etc/sources.list.d']) {
    await mkdir(d(sub), { recursive: true });
  }
  await writeFile(d('status'), '');
  await writeFile(d('etc/sources.list'), sourcesList(archives, architecture));
  const conf = {
    'Dir::State': d(),
    'Dir::State::Lists': d('lists'),
    'Dir::State::status': d('status'),
    'Dir::Cache': d('cache'),
    'Dir::Etc': d('etc'),
    'Dir::Etc::SourceList': d('etc/sources.list'),
    'Dir::Etc::SourceParts': d('etc/sources.list.d'),
    'Dir::Etc::Preferences': d('etc/preferences'),
    'Dir::Etc::PreferencesParts': d('etc/preferences.d'),
    'Dir::Etc::Parts': d('etc/apt.conf.d'),
    'APT::Architecture': architecture,
    'APT::Architectures': architecture,
    'Acquire::Languages': 'none',
    // a snapshot archive's Release file is past its Valid-Until: the lock pins exact versions,
    // and the signed index still pins their hashes
    'Acquire::Check-Valid-Until': 'false',
    // root would hand downloads to _apt, which cannot enter a private scratch directory
    'APT::Sandbox::User': 'root',
    'Debug::NoLocking': 'true',
  };
  const text = Object.entries(conf).map(([k, v]) => `${k} "${v}";\n`).join('');
  await writeFile(d('apt.conf'), text);
  return { dir, env: { APT_CONFIG: d('apt.conf'), LC_ALL: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' } };
}

async function apt(envs: AptEnv, file: string, args: string[], cwd?: string): Promise<string> {
  const r = await execa(file, args, { env: envs.env, cwd, reject: false, maxBuffer: 256 * 1024 * 1024, timeout: 30 * 60_000 });
  if (r.exitCode !== 0) {
    const why = (r.stderr || r.stdout).split('\n').filter((l) => l.startsWith('E:') || l.startsWith('W:')).slice(0, 3).join(' ');
    throw new TemplateError('TEMPLATE_APT_FAILED', `${file} ${args[0]} failed (exit ${r.exitCode ?? r.signal}): ${why || r.stderr.slice(-300)}`, {
      cause: new Error(r.stderr),
      kind: 'failure',
    });
  }
  return r.stdout;
}

/** Fetches the archives' package indices (signature-checked by apt). */
export async function aptUpdate(env: AptEnv): Promise<void> {
  await apt(env, 'apt-get', ['update', '-q']);
}

export interface AvailablePackage extends LockedPackage {
  essential: boolean;
}

/** Every (name, version, arch) the fetched indices offer. */
export async function availablePackages(env: AptEnv): Promise<AvailablePackage[]> {
  const listsDir = path.join(env.dir, 'lists');
  const lists = (await readdir(listsDir)).filter((f) => f.endsWith('_Packages')).sort();
  const out: AvailablePackage[] = [];
  for (const file of lists.map((f) => path.join(listsDir, f))) {
    let cur: Partial<AvailablePackage> = {};
    const flush = () => {
      if (cur.name && cur.version && cur.arch) out.push({ name: cur.name, version: cur.version, arch: cur.arch, essential: cur.essential ?? false });
      cur = {};
    };
    const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    for await (const line of rl) {
      if (line === '') flush();
      else if (line.startsWith('Package: ')) cur.name = line.slice(9).trim();
      else if (line.startsWith('Version: ')) cur.version = line.slice(9).trim();
      else if (line.startsWith('Architecture: ')) cur.arch = line.slice(14).trim();
      else if (line.startsWith('Essential: ')) cur.essential = line.slice(11).trim() === 'yes';
    }
    flush();
  }
  return out;
}

/** The packages of `wanted` that no index offers in exactly that version and architecture. */
export function missingPackages(wanted: LockedPackage[], available: LockedPackage[]): LockedPackage[] {
  const have = new Set(available.map((p) => `${p.name}\u0000${p.version}\u0000${p.arch}`));
  return wanted.filter((p) => !have.has(`${p.name}\u0000${p.version}\u0000${p.arch}`));
}

/**
 * Resolves package names to the complete set apt would install into an empty
 * system from these archives (hard dependencies, no recommends), with versions:
 * how a lock is made from an archive rather than from a running builder.
 */
export async function resolveClosure(env: AptEnv, names: string[]): Promise<LockedPackage[]> {
  const text = await apt(env, 'apt-get', ['install', '-s', '-q', '--no-install-recommends', ...names]);
  const out: LockedPackage[] = [];
  for (const line of text.split('\n')) {
    const m = /^Inst (\S+) (?:\[\S+\] )?\((\S+) .*\[([a-z0-9-]+)\]\)/.exec(line);
    if (m) out.push({ name: m[1]!.replace(/:[a-z0-9-]+$/, ''), version: m[2]!, arch: m[3]! });
  }
  return out;
}

/** Downloads exactly these versions into `dest` (apt checks each file against the signed index). */
export async function downloadPackages(env: AptEnv, pkgs: LockedPackage[], dest: string): Promise<void> {
  await mkdir(dest, { recursive: true });
  // `name:all` is not a name apt knows: architecture-independent packages go by their bare name
  const specs = pkgs.map((p) => (p.arch === 'all' ? `${p.name}=${p.version}` : `${p.name}:${p.arch}=${p.version}`));
  // in batches: one argv for thousands of packages is fine for apt but not for every kernel limit
  for (let i = 0; i < specs.length; i += 500) {
    await apt(env, 'apt-get', ['download', '-q', ...specs.slice(i, i + 500)], dest);
  }
}
