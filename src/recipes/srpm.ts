/**
 * Reading a source RPM (.src.rpm) before anything is built from it: the lead
 * says it is a source package, rpm checks the digests of its header and
 * payload (`rpmkeys --checksig --nosignature`: header SHA256/SHA1, payload
 * SHA256, MD5), and its header gives the name, version, file names (each a
 * plain, safe name: exactly one .spec, no directories), the %changelog dates
 * and the BuildRequires and BuildConflicts (a source package's Requires and
 * Conflicts).  Only the header is read: nothing of the spec is evaluated
 * here (its macros may run shell commands; that happens in the sandbox).
 * The OpenPGP signature, if any, is not verified (the builder has no
 * keyring; the caller vouches for the source, as for any source tree).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { RecipeError } from './errors.js';
import { findOnPath } from '../host-tools.js';

export interface RpmDependency {
  name: string;
  /** RPMSENSE bits (rpm-version.ts SENSE); 0 when unversioned */
  flags: number;
  /** '' when unversioned */
  version: string;
}

export interface Srpm {
  /** absolute path of the .src.rpm */
  path: string;
  name: string;
  /** null when the package has no Epoch */
  epoch: number | null;
  version: string;
  release: string;
  /** the header's ARCH (the architecture it was made on, or noarch) */
  arch: string;
  /** RPMTAG_BUILDTIME of the source package, seconds */
  buildTime: number;
  /** %changelog entry times, seconds, as rpm stores them (noon UTC of each date) */
  changelogTimes: number[];
  /** file names in the payload (the spec, sources, patches) */
  files: string[];
  /** the spec's file name */
  specFile: string;
  /** BuildRequires */
  requires: RpmDependency[];
  /** BuildConflicts */
  conflicts: RpmDependency[];
}

const LEAD_MAGIC = Buffer.from([0xed, 0xab, 0xee, 0xdb]);
const LEAD_SIZE = 96;
/** file names a .src.rpm may carry: no directories, nothing hidden, no option-like names */
export const SAFE_FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._+~@%,=-]*$/;
/** a .src.rpm's own file name */
export const SRPM_FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._+~^-]*\.src\.rpm$/;
const NEVR_PART = /^[A-Za-z0-9._+~^-]+$/;

function tail(text: string, lines = 3): string {
  return text.trim().split('\n').slice(-lines).join(' / ');
}

async function requireRpmTools(): Promise<void> {
  for (const tool of ['rpm', 'rpmkeys', 'rpmbuild']) {
    if ((await findOnPath(tool)) === null) {
      throw new RecipeError('RPM_TOOL_MISSING', `${tool} is not installed on the builder (Debian: apt-get install rpm; Fedora: dnf install rpm-build)`, { kind: 'failure' });
    }
  }
}

/** The 96-byte lead: RPM magic, format 3 or 4, type 1 (source). */
async function checkLead(abs: string): Promise<void> {
  const where = path.basename(abs);
  const fh = await fs.open(abs, 'r');
  let lead: Buffer;
  try {
    lead = Buffer.alloc(LEAD_SIZE);
    const { bytesRead } = await fh.read(lead, 0, LEAD_SIZE, 0);
    if (bytesRead < LEAD_SIZE) throw new RecipeError('RPM_SRPM_CORRUPT', `${where}: ${bytesRead} bytes, too short for an RPM package (truncated?)`);
  } finally {
    await fh.close();
  }
  if (!lead.subarray(0, 4).equals(LEAD_MAGIC)) throw new RecipeError('RPM_SRPM_CORRUPT', `${where}: not an RPM package (no RPM lead magic)`);
  if (lead[4] !== 3 && lead[4] !== 4) throw new RecipeError('RPM_SRPM_CORRUPT', `${where}: RPM package format ${lead[4]} is not supported (3 or 4)`);
  if (lead.readUInt16BE(6) !== 1) throw new RecipeError('RPM_NOT_SOURCE', `${where}: a binary RPM, not a source package (.src.rpm)`);
}

/** Header and payload digests, by rpm itself. */
async function checkDigests(abs: string): Promise<void> {
  const r = await execa('rpmkeys', ['--checksig', '--nosignature', '-v', abs], { reject: false, env: { LC_ALL: 'C' } });
  if (r.exitCode === 0) return;
  const text = `${r.stdout}\n${r.stderr}`;
  const bad = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /: BAD|error:|not an rpm|read failed|read returned/i.test(l))
    .map((l) => l.replace(/^error:\s*/, '').replace(`${abs}: `, '').replace(/\s*\(Expected [^)]*\)/, ''));
  throw new RecipeError('RPM_SRPM_CORRUPT', `${path.basename(abs)}: rpm's digest check failed: ${bad.length ? bad.slice(0, 3).join('; ') : tail(text)} (truncated or altered?)`);
}

const QUERY_FORMAT = [
  'N\t%{NAME}\n',
  'E\t%{EPOCH}\n',
  'V\t%{VERSION}\n',
  'R\t%{RELEASE}\n',
  'A\t%{ARCH}\n',
  'B\t%{BUILDTIME}\n',
  '[C\t%{CHANGELOGTIME}\n]',
  '[F\t%{FILENAMES}\n]',
  '[Q\t%{REQUIRENAME}\t%{REQUIREFLAGS}\t%{REQUIREVERSION}\n]',
  '[X\t%{CONFLICTNAME}\t%{CONFLICTFLAGS}\t%{CONFLICTVERSION}\n]',
].join('');

/** The header fields the recipe uses, parsed from QUERY_FORMAT's output. */
export function parseSrpmQuery(text: string, abs: string): Srpm {
  const where = path.basename(abs);
  const one: Record<string, string> = {};
  const changelogTimes: number[] = [];
  const files: string[] = [];
  const requires: RpmDependency[] = [];
  const conflicts: RpmDependency[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [tag, ...rest] = line.split('\t');
    if (tag === 'C') changelogTimes.push(Number(rest[0]));
    else if (tag === 'F') files.push(rest.join('\t'));
    else if (tag === 'Q' || tag === 'X') {
      const [name = '', flags = '0', version = ''] = rest;
      (tag === 'Q' ? requires : conflicts).push({ name, flags: Number(flags), version });
    } else if (tag) one[tag] = rest.join('\t');
  }
  for (const [tag, what] of [['N', 'Name'], ['V', 'Version'], ['R', 'Release']] as const) {
    if (!one[tag] || !NEVR_PART.test(one[tag]!)) throw new RecipeError('RPM_SRPM_MALFORMED', `${where}: bad ${what} ${JSON.stringify(one[tag] ?? '')}`);
  }
  const epoch = one.E === undefined || one.E === '(none)' ? null : Number(one.E);
  if (epoch !== null && !Number.isSafeInteger(epoch)) throw new RecipeError('RPM_SRPM_MALFORMED', `${where}: bad Epoch ${JSON.stringify(one.E)}`);
  for (const f of files) {
    if (!SAFE_FILE_NAME.test(f)) throw new RecipeError('RPM_SRPM_MALFORMED', `${where}: unsafe file name in the payload: ${JSON.stringify(f)}`);
  }
  const specs = files.filter((f) => f.endsWith('.spec'));
  if (specs.length !== 1) throw new RecipeError('RPM_SRPM_MALFORMED', `${where}: holds ${specs.length} .spec files (a source package has exactly one)`);
  const buildTime = Number(one.B);
  return {
    path: abs,
    name: one.N!,
    epoch,
    version: one.V!,
    release: one.R!,
    arch: one.A ?? 'noarch',
    buildTime: Number.isSafeInteger(buildTime) ? buildTime : 0,
    changelogTimes: changelogTimes.filter((t) => Number.isSafeInteger(t)),
    files,
    specFile: specs[0]!,
    requires,
    conflicts,
  };
}

/**
 * Checks that FILE is a whole, unaltered source RPM with safe file names and
 * reads its header.  Throws RecipeError (RPM_SRPM_MISSING, RPM_SRPM_CORRUPT,
 * RPM_NOT_SOURCE, RPM_SRPM_MALFORMED; RPM_TOOL_MISSING when rpm is absent).
 */
export async function readSrpm(file: string): Promise<Srpm> {
  const abs = path.resolve(file);
  const base = path.basename(abs);
  if (!SRPM_FILE_NAME.test(base)) throw new RecipeError('RPM_SRPM_MALFORMED', `not a source RPM file name (NAME.src.rpm, letters, digits and ._+~^-): ${JSON.stringify(base)}`);
  let st;
  try {
    st = await fs.stat(abs);
  } catch (err) {
    throw new RecipeError('RPM_SRPM_MISSING', `cannot read the .src.rpm ${abs}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  if (!st.isFile()) throw new RecipeError('RPM_SRPM_MISSING', `not a file: ${abs}`);
  await checkLead(abs);
  await requireRpmTools();
  await checkDigests(abs);
  const r = await execa('rpm', ['-qp', '--qf', QUERY_FORMAT, abs], { reject: false, env: { LC_ALL: 'C' }, maxBuffer: 64 * 1024 * 1024 });
  if (r.exitCode !== 0) throw new RecipeError('RPM_SRPM_CORRUPT', `${base}: rpm cannot read its header: ${tail(r.stderr || r.stdout)}`);
  return parseSrpmQuery(r.stdout, abs);
}

/** `NAME-[E:]VERSION-RELEASE`, as messages name a package. */
export function srpmLabel(s: Srpm): string {
  return `${s.name}-${s.epoch !== null ? `${s.epoch}:` : ''}${s.version}-${s.release}`;
}
