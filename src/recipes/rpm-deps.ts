/**
 * BuildRequires and BuildConflicts of a source RPM against what the builder
 * has installed, checked before anything runs.  Only the header's lists are
 * used (srpm.ts), never the spec: nothing of the package runs on the host.
 *
 * On an RPM-based builder (an rpm database at rpm's %{_dbpath}, or the one
 * given): each requirement must be provided by an installed package, with an
 * overlapping version range, as rpm decides it (`rpm -q --whatprovides NAME`
 * lists the providers' Provides; rpm-version.ts compares the ranges); a file
 * requirement (`/usr/bin/foo`) must be owned by an installed package.
 *
 * On a Debian builder there is no rpm database of the system, so no Fedora
 * name can be looked up; what is checked instead, precisely:
 *  - a name listed in the dependency map (DEFAULT_DEP_MAP, or the file given;
 *    lines `FEDORA-NAME DEBIAN-PACKAGE[|ALTERNATIVE...]`) is met when one of
 *    its Debian packages is installed (dpkg database) and, for a versioned
 *    requirement, the upstream part of its version (epoch and Debian revision
 *    removed) satisfies the required version (epoch and release removed) by
 *    rpm's comparison: a map line asserts that both sides number upstream
 *    releases alike;
 *  - an unmapped `pkgconfig(NAME)` is met when `pkg-config --exists 'NAME OP
 *    VERSION'` says so; an unmapped file requirement when the path exists;
 *  - `rpmlib(...)` when the builder's rpm lists the feature (`rpm --showrc`);
 *  - anything else (an unmapped name, a rich dependency `(a or b)`) is unmet:
 *    refused, naming it, rather than guessed.
 * BuildConflicts are checked through the map only (a Debian package the map
 * names is installed in an overlapping version); an unmapped one cannot be
 * installed where no rpm package is.
 */
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { listInstalledPackages } from '../record/packages.js';
import { MissingBuildDepsError, RecipeError } from './errors.js';
import { findOnPath } from '../host-tools.js';
import { rangesOverlap, senseOperator, SENSE, type Range } from './rpm-version.js';
import type { RpmDependency, Srpm } from './srpm.js';

/** The builder's dependency map on a Debian builder (an administrator's file). */
export const DEFAULT_DEP_MAP = '/etc/qubes-detbuild/rpm-deps.map';

export interface DepCheckOptions {
  /** check against this rpm database (rpm --dbpath) instead of deciding from the builder */
  rpmDbPath?: string;
  /** the Debian map file (default DEFAULT_DEP_MAP, when it exists) */
  depMapFile?: string;
}

export type DepChecker =
  | { kind: 'rpmdb'; dbPath: string | null }
  | { kind: 'debian'; map: Map<string, string[]>; mapFile: string | null };

export function describeDep(d: RpmDependency): string {
  const op = senseOperator(d.flags);
  return op && d.version ? `${d.name} ${op} ${d.version}` : d.name;
}

/** Parses a dependency map; throws RPM_DEP_MAP_MALFORMED naming file:line. */
export function parseDepMap(text: string, where: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const parts = line.split(/\s+/);
    const debs = parts[1]?.split('|') ?? [];
    if (parts.length !== 2 || debs.some((d) => !/^[a-z0-9][a-z0-9.+-]+$/.test(d))) {
      throw new RecipeError('RPM_DEP_MAP_MALFORMED', `${where}:${i + 1}: expected 'FEDORA-NAME DEBIAN-PACKAGE[|ALTERNATIVE...]', got ${JSON.stringify(raw.trim())}`, { kind: 'failure' });
    }
    map.set(parts[0]!, debs);
  });
  return map;
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p, constants.F_OK).then(
    () => true,
    () => false,
  );
}

/** The system's rpm database lists installed packages (an RPM-based builder; Debian's rpm has an empty one per user). */
async function systemRpmDb(): Promise<boolean> {
  const r = await execa('rpm', ['-qa', '--qf', '%{NAME}\\n'], { reject: false, env: { LC_ALL: 'C' } });
  return r.exitCode === 0 && r.stdout.trim() !== '';
}

/** Decides what BuildRequires are checked against on this builder. */
export async function chooseDepChecker(opts: DepCheckOptions = {}): Promise<DepChecker> {
  if (opts.rpmDbPath) return { kind: 'rpmdb', dbPath: path.resolve(opts.rpmDbPath) };
  if (await systemRpmDb()) return { kind: 'rpmdb', dbPath: null };
  if ((await findOnPath('dpkg-query')) === null) {
    throw new RecipeError('RPM_NO_PACKAGE_DB', 'this builder has neither an rpm database nor dpkg: its BuildRequires cannot be checked', { kind: 'failure' });
  }
  const file = opts.depMapFile ?? ((await exists(DEFAULT_DEP_MAP)) ? DEFAULT_DEP_MAP : null);
  if (file === null) return { kind: 'debian', map: new Map(), mapFile: null };
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new RecipeError('RPM_DEP_MAP_MISSING', `cannot read the dependency map ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err, kind: 'failure' });
  }
  return { kind: 'debian', map: parseDepMap(text, file), mapFile: file };
}

/** rpmlib(...) features the builder's rpm supports: name -> version. */
async function rpmlibFeatures(): Promise<Map<string, string>> {
  const r = await execa('rpm', ['--showrc'], { reject: false, env: { LC_ALL: 'C' }, maxBuffer: 64 * 1024 * 1024 });
  const out = new Map<string, string>();
  for (const m of r.stdout.matchAll(/^\s+(rpmlib\([^)]+\))\s*=\s*(\S+)\s*$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

function rangeOf(d: RpmDependency): Range {
  return { flags: d.flags, evr: d.version };
}

/** Providers of NAME in the rpm database: every Provides entry of that name. */
async function rpmProvides(dbPath: string | null, name: string): Promise<Range[] | null> {
  const args = [...(dbPath ? ['--dbpath', dbPath] : []), '-q', '--whatprovides', name, '--qf', '[%{PROVIDENAME}\t%{PROVIDEFLAGS}\t%{PROVIDEVERSION}\n]'];
  const r = await execa('rpm', args, { reject: false, env: { LC_ALL: 'C' } });
  if (r.exitCode !== 0) return null;
  if (name.startsWith('/')) return [{ flags: 0, evr: '' }]; // a file is owned: unversioned
  return r.stdout
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((p) => p[0] === name)
    .map((p) => ({ flags: Number(p[1] ?? 0), evr: p[2] ?? '' }));
}

/** The version without epoch and release / Debian revision: what the Debian check compares. */
function upstreamPart(version: string): string {
  return version.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
}

interface Verdict {
  unmet: string[];
  conflicts: string[];
}

async function checkRpmDb(dbPath: string | null, srpm: Srpm, features: Map<string, string>): Promise<Verdict> {
  const unmet: string[] = [];
  const conflicts: string[] = [];
  for (const d of srpm.requires) {
    if (d.name.startsWith('rpmlib(')) {
      if (!features.has(d.name)) unmet.push(`${describeDep(d)} (not a feature of this rpm)`);
      continue;
    }
    if (d.name.startsWith('(')) {
      unmet.push(`${describeDep(d)} (rich dependency: not checked, refused)`);
      continue;
    }
    const provides = await rpmProvides(dbPath, d.name);
    if (!provides || !provides.some((p) => rangesOverlap(p, rangeOf(d)))) {
      unmet.push(provides?.length ? `${describeDep(d)} (installed: ${provides.map((p) => p.evr || 'unversioned').join(', ')})` : describeDep(d));
    }
  }
  for (const d of srpm.conflicts) {
    const provides = d.name.startsWith('(') ? null : await rpmProvides(dbPath, d.name);
    if (provides?.some((p) => rangesOverlap(p, rangeOf(d)))) conflicts.push(describeDep(d));
  }
  return { unmet, conflicts };
}

async function pkgConfigHas(d: RpmDependency): Promise<boolean> {
  const module = d.name.slice('pkgconfig('.length, -1);
  const op = senseOperator(d.flags);
  const query = op && d.version ? `${module} ${op} ${upstreamPart(d.version)}` : module;
  const r = await execa('pkg-config', ['--exists', query], { reject: false });
  return r.exitCode === 0;
}

async function checkDebian(checker: Extract<DepChecker, { kind: 'debian' }>, srpm: Srpm, features: Map<string, string>): Promise<Verdict> {
  const installed = new Map<string, string>();
  for (const p of (await listInstalledPackages()).packages) installed.set(p.name, p.version);
  /** the first mapped Debian package installed in a satisfying version, or why none is */
  const viaMap = (d: RpmDependency, debs: string[]): { ok: boolean; why: string } => {
    const seen: string[] = [];
    for (const deb of debs) {
      const v = installed.get(deb);
      if (v === undefined) {
        seen.push(`${deb} not installed`);
        continue;
      }
      const want: Range = { flags: d.flags, evr: upstreamPart(d.version) };
      if (rangesOverlap({ flags: SENSE.equal, evr: upstreamPart(v) }, want)) return { ok: true, why: '' };
      seen.push(`${deb} ${v} installed`);
    }
    return { ok: false, why: seen.join(', ') };
  };
  const unmet: string[] = [];
  const conflicts: string[] = [];
  for (const d of srpm.requires) {
    const debs = checker.map.get(d.name);
    if (debs) {
      const v = viaMap(d, debs);
      if (!v.ok) unmet.push(`${describeDep(d)} (${v.why})`);
    } else if (d.name.startsWith('rpmlib(')) {
      if (!features.has(d.name)) unmet.push(`${describeDep(d)} (not a feature of this rpm)`);
    } else if (d.name.startsWith('(')) {
      unmet.push(`${describeDep(d)} (rich dependency: not checked on a Debian builder, refused)`);
    } else if (/^pkgconfig\([^()]+\)$/.test(d.name)) {
      if (!(await pkgConfigHas(d))) unmet.push(`${describeDep(d)} (pkg-config does not find it)`);
    } else if (d.name.startsWith('/')) {
      if (!(await exists(d.name))) unmet.push(`${d.name} (no such file on this builder)`);
    } else {
      unmet.push(`${describeDep(d)} (no Debian package mapped)`);
    }
  }
  for (const d of srpm.conflicts) {
    const debs = checker.map.get(d.name);
    if (debs && viaMap(d, debs).ok) conflicts.push(describeDep(d));
  }
  return { unmet, conflicts };
}

/** What of the package's BuildRequires / BuildConflicts this builder does not meet. */
export async function unmetBuildRequires(srpm: Srpm, checker: DepChecker): Promise<Verdict> {
  const features = await rpmlibFeatures();
  return checker.kind === 'rpmdb' ? checkRpmDb(checker.dbPath, srpm, features) : checkDebian(checker, srpm, features);
}

/** Throws MissingBuildDepsError (one line naming each unmet one) unless everything is met. */
export async function checkBuildRequires(srpm: Srpm, opts: DepCheckOptions = {}): Promise<DepChecker> {
  const checker = await chooseDepChecker(opts);
  const v = await unmetBuildRequires(srpm, checker);
  if (v.unmet.length || v.conflicts.length) {
    const hint =
      checker.kind === 'rpmdb'
        ? `install them in the builder, e.g. dnf builddep ${path.basename(srpm.path)}`
        : `map Fedora names to Debian packages in ${checker.mapFile ?? `${DEFAULT_DEP_MAP} (absent)`} and install those`;
    throw new MissingBuildDepsError(srpm.name, v.unmet, v.conflicts, { hint, labels: { missing: 'unmet BuildRequires', conflicts: 'BuildConflicts installed' } });
  }
  return checker;
}
