/**
 * The template lock file: the exact package set of a builder template (names,
 * versions, architectures), the archive(s) to take them from, and the epoch the
 * image is stamped with. Regenerating from the same lock file gives the same
 * root tarball and ext4 image, byte for byte.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { canonicalJson } from '../../record/canonical.js';
import { TemplateError } from './errors.js';

export const LOCK_FORMAT = 'detbuild-template-lock/1';

/** Debian package names (policy 5.6.1) and versions (5.6.12), and architectures. */
const packageName = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'not a Debian package name');
const packageVersion = z.string().regex(/^([0-9]+:)?[A-Za-z0-9][A-Za-z0-9.+~-]*$/, 'not a Debian version');
const architecture = z.string().regex(/^[a-z0-9-]+$/, 'not a Debian architecture');

export const LockedPackageSchema = z.object({ name: packageName, version: packageVersion, arch: architecture }).strict();
export type LockedPackage = z.infer<typeof LockedPackageSchema>;

export const ArchiveSchema = z
  .object({
    /** http(s) URI of the archive: a dated snapshot (snapshot.debian.org/archive/debian/20250520T000000Z) in production */
    uri: z.string().regex(/^(https?|file):\/\/\S+$/, 'an http(s):// or file:// URI'),
    suite: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/),
    components: z.array(z.string().regex(/^[A-Za-z0-9._-]+$/)).min(1),
    /** keyring that signs the archive's Release file, on the machine that fetches (default: Debian's) */
    signedBy: z.string().startsWith('/').optional(),
  })
  .strict();
export type Archive = z.infer<typeof ArchiveSchema>;

export const TemplateLockSchema = z
  .object({
    format: z.literal(LOCK_FORMAT),
    /** the release the image is of (mmdebstrap's SUITE: its Essential and priority data) */
    suite: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
    /** the Debian architecture of the image */
    architecture,
    /** where the packages come from; the first is the distribution's own archive */
    archives: z.array(ArchiveSchema).min(1),
    /** SOURCE_DATE_EPOCH of the regeneration: every timestamp in the image */
    epoch: z.number().int().nonnegative(),
    /** size of the ext4 image in MiB; default: derived from the root tarball's size */
    imageSizeMiB: z.number().int().positive().optional(),
    /** the exact package set, sorted by name then architecture */
    packages: z.array(LockedPackageSchema).min(1),
  })
  .strict();
export type TemplateLock = z.infer<typeof TemplateLockSchema>;

function pkgKey(p: LockedPackage): string {
  return `${p.name}\u0000${p.arch}`;
}

/** Sorts the packages and refuses a package listed twice: the canonical form of a lock. */
export function normalizeLock(lock: TemplateLock): TemplateLock {
  const packages = [...lock.packages].sort((a, b) => (pkgKey(a) < pkgKey(b) ? -1 : pkgKey(a) > pkgKey(b) ? 1 : 0));
  for (let i = 1; i < packages.length; i++) {
    if (pkgKey(packages[i]!) === pkgKey(packages[i - 1]!)) {
      const p = packages[i]!;
      throw new TemplateError('TEMPLATE_LOCK_INVALID', `the lock file lists ${p.name}:${p.arch} twice`, { packages: [`${p.name}=${p.version}`] });
    }
  }
  return { ...lock, packages };
}

/** Validates a parsed lock file (zod), then normalises it. */
export function parseLock(data: unknown, where = 'lock file'): TemplateLock {
  const r = TemplateLockSchema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new TemplateError('TEMPLATE_LOCK_INVALID', `${where}: ${issue.path.join('.') || '(top)'}: ${issue.message}`, { cause: r.error });
  }
  return normalizeLock(r.data);
}

export async function readLock(file: string): Promise<TemplateLock> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TemplateError('TEMPLATE_LOCK_MISSING', `cannot read the lock file ${file}`, { cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new TemplateError('TEMPLATE_LOCK_INVALID', `${file} is not valid JSON`, { cause: err });
  }
  return parseLock(data, file);
}

/** The lock file's text: JSON with sorted keys, one package per line (readable diffs). */
export function serializeLock(lock: TemplateLock): string {
  const { packages, ...rest } = normalizeLock(lock);
  const lines = ['{'];
  for (const key of Object.keys(rest).sort()) {
    const value = (rest as Record<string, unknown>)[key];
    if (value !== undefined) lines.push(`  ${JSON.stringify(key)}: ${canonicalJson(value)},`);
  }
  lines.push('  "packages": [');
  packages.forEach((p, i) => lines.push(`    ${canonicalJson(p)}${i < packages.length - 1 ? ',' : ''}`));
  lines.push('  ]', '}');
  return `${lines.join('\n')}\n`;
}

/** sha256 over the canonical JSON of the normalised lock: what "the same lock file" means. */
export function lockSha256(lock: TemplateLock): string {
  return createHash('sha256').update(canonicalJson(normalizeLock(lock))).digest('hex');
}
