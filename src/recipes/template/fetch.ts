/**
 * Phase 1 of a regeneration, outside the engine (it needs the network): fetch
 * exactly the pinned .debs and lay out a source directory that the engine
 * builds without any network: the .debs, the lock, the script, and a
 * detbuild.json fixing the command, the epoch (the lock's) and the seed (from
 * the lock's hash). `detbuild build DIR` or `detbuild remote DIR` regenerate
 * from it; the same lock gives the same directory, so the same image.
 */
import { copyFile, link, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { aptUpdate, availablePackages, createAptEnv, downloadPackages, missingPackages } from './apt.js';
import { TemplateError } from './errors.js';
import { lockSha256, serializeLock, type LockedPackage, type TemplateLock } from './lock.js';
import { SOURCE_FILES, buildScript, expectedPackages } from './script.js';

export interface FetchOptions {
  /** directory to create (must not exist or be empty): the regeneration's sources */
  sourceDir: string;
  /** scratch directory for apt's state (default: inside sourceDir's parent, removed after) */
  workDir: string;
  /** keep downloaded .debs here and reuse the ones already there (verified again each time) */
  cacheDir?: string;
  log?: (message: string) => void;
}

export interface FetchResult {
  sourceDir: string;
  lockSha256: string;
  /** what detbuild.json holds */
  command: string;
  epoch: number;
  seed: string;
  downloaded: number;
  reused: number;
}

const key = (p: LockedPackage) => `${p.name}\u0000${p.version}\u0000${p.arch}`;
const label = (p: LockedPackage) => `${p.name}=${p.version} (${p.arch})`;

/** Package, Version and Architecture of each .deb in `dir`, read from the files themselves. */
export async function readDebFields(dir: string): Promise<Map<string, LockedPackage>> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.deb')).sort();
  const out = new Map<string, LockedPackage>();
  if (files.length === 0) return out;
  const script = 'for f; do printf "%s\\t" "$f"; dpkg-deb --showformat="\\${Package}\\t\\${Version}\\t\\${Architecture}\\n" --show "$f" || exit 1; done';
  const r = await execa('sh', ['-c', script, 'sh', ...files], { cwd: dir, reject: false, maxBuffer: 64 * 1024 * 1024 });
  if (r.exitCode !== 0) throw new TemplateError('TEMPLATE_DEB_UNREADABLE', `cannot read a .deb in ${dir}: ${r.stderr.split('\n')[0]}`, { kind: 'failure' });
  for (const line of r.stdout.split('\n')) {
    const [file, name, version, arch] = line.split('\t');
    if (file && name && version && arch) out.set(file, { name, version, arch });
  }
  return out;
}

/** Hard-links `from` to `to` (replacing `to`), copying where a link is impossible (another file system). */
async function placeFile(from: string, to: string): Promise<void> {
  await rm(to, { force: true });
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

export async function fetchTemplateSources(lock: TemplateLock, opts: FetchOptions): Promise<FetchResult> {
  const log = opts.log ?? (() => undefined);
  const sha = lockSha256(lock);
  const existing = await readdir(opts.sourceDir).catch(() => [] as string[]);
  if (existing.length > 0) throw new TemplateError('TEMPLATE_OUT_NOT_EMPTY', `the source directory exists and is not empty: ${opts.sourceDir}`);
  const repo = path.join(opts.sourceDir, SOURCE_FILES.repo);
  await mkdir(repo, { recursive: true });
  const cache = opts.cacheDir ?? path.join(opts.workDir, 'debs');
  await mkdir(cache, { recursive: true });

  // what the cache already holds, by content (a file's name is not trusted)
  const cached = new Map<string, string>();
  for (const [file, p] of await readDebFields(cache)) cached.set(key(p), file);
  const needed = lock.packages.filter((p) => !cached.has(key(p)));
  let downloaded = 0;
  if (needed.length > 0) {
    log(`fetching the package indices of ${lock.archives.map((a) => `${a.uri} ${a.suite}`).join(', ')}`);
    const apt = await createAptEnv(path.join(opts.workDir, 'apt'), lock.archives, lock.architecture);
    await aptUpdate(apt);
    const missing = missingPackages(needed, await availablePackages(apt));
    if (missing.length > 0) {
      const names = missing.map(label);
      throw new TemplateError(
        'TEMPLATE_VERSION_UNAVAILABLE',
        `the archive no longer serves ${missing.length === 1 ? 'the pinned version' : `${missing.length} pinned versions`}: ${names.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''} (use a snapshot archive of the lock's date)`,
        { packages: missing.map((p) => `${p.name}=${p.version}`) },
      );
    }
    log(`downloading ${needed.length} packages`);
    const incoming = path.join(opts.workDir, 'incoming');
    await rm(incoming, { recursive: true, force: true });
    await downloadPackages(apt, needed, incoming);
    for (const [file, p] of await readDebFields(incoming)) {
      await placeFile(path.join(incoming, file), path.join(cache, file));
      cached.set(key(p), file);
      downloaded++;
    }
    await rm(incoming, { recursive: true, force: true });
  }

  // each pinned package, checked by the fields of the file itself
  const still = lock.packages.filter((p) => !cached.has(key(p)));
  if (still.length > 0) {
    throw new TemplateError('TEMPLATE_DEB_MISMATCH', `downloaded files are not the pinned packages: ${still.map(label).slice(0, 5).join(', ')}`, {
      packages: still.map((p) => `${p.name}=${p.version}`),
      kind: 'failure',
    });
  }
  const names = new Set<string>();
  for (const p of lock.packages) {
    const file = cached.get(key(p))!;
    // one file name per package in the repository: name_version_arch.deb, epoch colon escaped as dpkg does
    const name = `${p.name}_${p.version.replace(/:/g, '%3a')}_${p.arch}.deb`;
    if (names.has(name)) throw new TemplateError('TEMPLATE_LOCK_INVALID', `two pinned packages map to ${name}`);
    names.add(name);
    await placeFile(path.join(cache, file), path.join(repo, name));
  }

  const seed = sha.slice(0, 32);
  const command = `sh ${SOURCE_FILES.script}`;
  await writeFile(path.join(opts.sourceDir, SOURCE_FILES.lock), serializeLock(lock));
  await writeFile(path.join(opts.sourceDir, SOURCE_FILES.expected), expectedPackages(lock));
  await writeFile(path.join(opts.sourceDir, SOURCE_FILES.script), buildScript(lock, sha), { mode: 0o755 });
  await writeFile(path.join(opts.sourceDir, 'detbuild.json'), `${JSON.stringify({ command, epoch: lock.epoch, seed }, null, 2)}\n`);
  return { sourceDir: opts.sourceDir, lockSha256: sha, command, epoch: lock.epoch, seed, downloaded, reused: lock.packages.length - downloaded };
}
