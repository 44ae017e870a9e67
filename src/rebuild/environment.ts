/**
 * Is this builder's environment the one the build was made in? Equal environment hashes
 * and equal package lists, or a list of what differs, packages first (the way Debian's
 * rebuilders report a .buildinfo whose Installed-Build-Depends cannot be met).
 */
import { compareRecords, type RecordDifference } from '../record/compare.js';
import type { EnvironmentRecord, InstalledPackage } from '../record/schema.js';
import type { Published } from './published.js';

export interface PackageDifference {
  /** name:arch */
  package: string;
  recorded: string | null;
  here: string | null;
}

export interface EnvironmentCheck {
  identical: boolean;
  recordedSha256: string;
  hereSha256: string;
  packages: PackageDifference[];
  /** other fields (kernel, toolchain, os-release, engine) that differ */
  other: RecordDifference[];
}

function packageMap(list: readonly InstalledPackage[]): Map<string, string> {
  return new Map(list.map((p) => [`${p.name}:${p.arch}`, p.version]));
}

export function comparePackages(recorded: readonly InstalledPackage[], here: readonly InstalledPackage[]): PackageDifference[] {
  const a = packageMap(recorded);
  const b = packageMap(here);
  const out: PackageDifference[] = [];
  for (const k of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(k) ?? null;
    const y = b.get(k) ?? null;
    if (x !== y) out.push({ package: k, recorded: x, here: y });
  }
  return out;
}

export function checkEnvironment(published: Published['environment'], here: EnvironmentRecord): EnvironmentCheck {
  const packages = comparePackages(published.packages, here.environment.packages);
  let other: RecordDifference[] = [];
  if (published.record) {
    other = compareRecords({ ...published.record, build: null }, { ...here, build: null }).filter((d) => !d.field.startsWith('packages.') && !d.field.startsWith('build.'));
  } else {
    const env = here.environment;
    const kernel = `${env.kernel.sysname} ${env.kernel.release} ${env.kernel.version} ${env.kernel.machine}`;
    if (published.kernel !== null && published.kernel !== kernel) other.push({ field: 'kernel', a: published.kernel, b: kernel });
    if (published.engineVersion !== null && published.engineVersion !== env.engine.version) other.push({ field: 'engine.version', a: published.engineVersion, b: env.engine.version });
    for (const k of [...new Set([...Object.keys(published.toolchain ?? {}), ...Object.keys(env.toolchain)])].sort()) {
      const a = published.toolchain?.[k] ?? null;
      const b = env.toolchain[k] ?? null;
      if (published.toolchain && a !== b) other.push({ field: `toolchain.${k}`, a, b });
    }
  }
  return {
    identical: published.sha256 === here.environmentSha256 && packages.length === 0,
    recordedSha256: published.sha256,
    hereSha256: here.environmentSha256,
    packages,
    other,
  };
}

/** One line: what differs, at most `max` items named. */
export function describeEnvironmentCheck(c: EnvironmentCheck, max = 8): string {
  if (c.identical) return 'the environment is the recorded one';
  const parts: string[] = [];
  if (c.packages.length > 0) {
    const items = c.packages.slice(0, max).map((p) => (p.recorded === null ? `${p.package} ${p.here} installed here, not recorded` : p.here === null ? `${p.package} ${p.recorded} recorded, not installed here` : `${p.package} ${p.recorded} recorded, ${p.here} here`));
    parts.push(`${c.packages.length} package${c.packages.length === 1 ? '' : 's'} differ${c.packages.length === 1 ? 's' : ''}: ${items.join('; ')}${c.packages.length > max ? '; …' : ''}`);
  } else {
    parts.push('the installed packages are the same');
  }
  if (c.other.length > 0) {
    parts.push(`also ${c.other.slice(0, 3).map((d) => d.field).join(', ')}${c.other.length > 3 ? ` and ${c.other.length - 3} more` : ''}`);
  } else if (c.packages.length === 0) {
    parts.push('nothing else the record lists differs, yet its hash does');
  }
  return `environment sha256 ${c.recordedSha256.slice(0, 12)}… recorded, ${c.hereSha256.slice(0, 12)}… here: ${parts.join('; ')}`;
}
