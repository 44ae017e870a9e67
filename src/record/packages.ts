import { execa } from 'execa';
import type { InstalledPackage } from './schema.js';

export type PackageManager = 'dpkg' | 'rpm' | 'none';

const DPKG_FORMAT = '${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\n';
const RPM_FORMAT = '%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n';

/** Parses `dpkg-query -W -f '${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n'`, keeping installed ones. */
export function parseDpkgQuery(text: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const line of text.split('\n')) {
    const [status, name, version, arch] = line.split('\t');
    if (!status || !name || version === undefined || arch === undefined) continue;
    // "ii " (desired install, installed, no error) and "hi " (held) are installed
    if (status[1] !== 'i') continue;
    out.push({ name, version, arch });
  }
  return sortPackages(out);
}

/** Parses `rpm -qa --qf '%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t%{ARCH}\n'`. */
export function parseRpmQuery(text: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const line of text.split('\n')) {
    const [name, version, arch] = line.split('\t');
    if (!name || version === undefined || arch === undefined) continue;
    out.push({ name, version: version.startsWith('0:') ? version.slice(2) : version, arch });
  }
  return sortPackages(out);
}

function sortPackages(list: InstalledPackage[]): InstalledPackage[] {
  const key = (p: InstalledPackage) => `${p.name}\u0000${p.arch}\u0000${p.version}`;
  return list.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

async function tryRun(file: string, args: string[]): Promise<string | null> {
  try {
    const r = await execa(file, args, { timeout: 60_000, maxBuffer: 256 * 1024 * 1024, stripFinalNewline: false });
    return r.stdout;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return null;
    throw err;
  }
}

/** The exact installed versions of all packages, from the dpkg database, else rpm's. */
export async function listInstalledPackages(): Promise<{ manager: PackageManager; packages: InstalledPackage[] }> {
  const dpkg = await tryRun('dpkg-query', ['-W', '-f', DPKG_FORMAT]);
  if (dpkg !== null) return { manager: 'dpkg', packages: parseDpkgQuery(dpkg) };
  const rpm = await tryRun('rpm', ['-qa', '--qf', RPM_FORMAT]);
  if (rpm !== null) return { manager: 'rpm', packages: parseRpmQuery(rpm) };
  return { manager: 'none', packages: [] };
}

/** The distribution's name for this architecture (amd64 rather than x86_64 on Debian). */
export async function packageArchitecture(manager: PackageManager, machine: string): Promise<string> {
  try {
    if (manager === 'dpkg') return (await execa('dpkg', ['--print-architecture'], { timeout: 10_000 })).stdout.trim();
    if (manager === 'rpm') return (await execa('rpm', ['--eval', '%{_arch}'], { timeout: 10_000 })).stdout.trim();
  } catch {
    // fall through to uname's
  }
  return machine;
}
