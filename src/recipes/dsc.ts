/**
 * Reading a Debian source control file (.dsc): its fields, the files it
 * lists, and a check that those files are there, whole and unchanged.
 * The OpenPGP signature, if any, is stripped, not verified (the builder has
 * no keyring; the caller vouches for the source, as with any source tree).
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { RecipeError } from './errors.js';

export interface DscFile {
  name: string;
  size: number;
  /** from Checksums-Sha256 (null for an old .dsc that has only md5) */
  sha256: string | null;
  /** from Files */
  md5: string | null;
}

export interface Dsc {
  /** absolute path of the .dsc */
  path: string;
  source: string;
  /** full version, with epoch and Debian revision, e.g. `1:2.3-4` */
  version: string;
  /** the version without epoch and Debian revision: dpkg-source's directory is `${source}-${upstreamVersion}` */
  upstreamVersion: string;
  format: string;
  files: DscFile[];
  /** every field, keys as written */
  fields: Record<string, string>;
}

/** Deb822 paragraph of a .dsc, with a clearsigned wrapper removed. */
export function parseDscText(text: string, where: string): Record<string, string> {
  let body = text.replace(/\r\n/g, '\n');
  if (body.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) {
    const start = body.indexOf('\n\n');
    const end = body.indexOf('\n-----BEGIN PGP SIGNATURE-----');
    if (start < 0 || end < 0 || end < start) throw new RecipeError('DSC_MALFORMED', `${where}: broken OpenPGP clearsigned wrapper`);
    body = body.slice(start + 2, end + 1).replace(/^- /gm, '');
  }
  const fields: Record<string, string> = {};
  let current: string | null = null;
  let lineNo = 0;
  for (const line of body.split('\n')) {
    lineNo++;
    if (line.trim() === '') {
      if (Object.keys(fields).length) break; // the first paragraph is the .dsc
      continue;
    }
    if (line.startsWith('#')) continue;
    if (/^[ \t]/.test(line)) {
      if (current === null) throw new RecipeError('DSC_MALFORMED', `${where}:${lineNo}: continuation line before any field`);
      fields[current] += `\n${line.trim()}`;
      continue;
    }
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*):(.*)$/.exec(line);
    if (!m) throw new RecipeError('DSC_MALFORMED', `${where}:${lineNo}: not a 'Field: value' line: ${JSON.stringify(line.slice(0, 80))}`);
    current = m[1]!;
    fields[current] = m[2]!.trim();
  }
  return fields;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9.+~_-]*$/;

function fileLines(value: string | undefined, field: string, where: string): Array<[string, number, string]> {
  if (value === undefined) return [];
  const out: Array<[string, number, string]> = [];
  for (const line of value.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const parts = line.split(/\s+/);
    if (parts.length !== 3 || !/^\d+$/.test(parts[1]!)) throw new RecipeError('DSC_MALFORMED', `${where}: bad ${field} line: ${JSON.stringify(line)}`);
    const [sum, size, name] = parts as [string, string, string];
    if (!SAFE_NAME.test(name) || name.includes('..')) throw new RecipeError('DSC_MALFORMED', `${where}: unsafe file name in ${field}: ${JSON.stringify(name)}`);
    out.push([name, Number(size), sum.toLowerCase()]);
  }
  return out;
}

/** `1:2.3-4` -> `2.3`; `2.3` (native) -> `2.3`. */
export function upstreamVersionOf(version: string): string {
  let v = version.replace(/^\d+:/, '');
  const dash = v.lastIndexOf('-');
  if (dash > 0) v = v.slice(0, dash);
  return v;
}

export async function readDsc(dscPath: string): Promise<Dsc> {
  const abs = path.resolve(dscPath);
  let text: string;
  try {
    const st = await fs.stat(abs);
    if (!st.isFile()) throw new RecipeError('DSC_NOT_FILE', `not a file: ${abs}`);
    if (st.size > 1024 * 1024) throw new RecipeError('DSC_MALFORMED', `${abs}: ${st.size} bytes is too large for a .dsc`);
    text = await fs.readFile(abs, 'utf8');
  } catch (err) {
    if (err instanceof RecipeError) throw err;
    throw new RecipeError('DSC_MISSING', `cannot read the .dsc ${abs}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const where = path.basename(abs);
  const fields = parseDscText(text, where);
  for (const req of ['Source', 'Version', 'Format']) {
    if (!fields[req]) throw new RecipeError('DSC_MALFORMED', `${where}: no ${req} field (is this a Debian source control file?)`);
  }
  const source = fields.Source!;
  const version = fields.Version!;
  if (!/^[a-z0-9][a-z0-9.+-]+$/.test(source)) throw new RecipeError('DSC_MALFORMED', `${where}: bad Source name ${JSON.stringify(source)}`);
  if (!/^(\d+:)?[A-Za-z0-9.+~-]+$/.test(version) || !/^(\d+:)?\d/.test(version)) throw new RecipeError('DSC_MALFORMED', `${where}: bad Version ${JSON.stringify(version)}`);
  const md5 = fileLines(fields.Files, 'Files', where);
  const sha = fileLines(fields['Checksums-Sha256'], 'Checksums-Sha256', where);
  if (md5.length === 0 && sha.length === 0) throw new RecipeError('DSC_MALFORMED', `${where}: lists no files (no Files or Checksums-Sha256 field)`);
  const byName = new Map<string, DscFile>();
  for (const [name, size, sum] of md5) byName.set(name, { name, size, md5: sum, sha256: null });
  for (const [name, size, sum] of sha) {
    const f = byName.get(name);
    if (f && f.size !== size) throw new RecipeError('DSC_MALFORMED', `${where}: ${name} has two different sizes`);
    byName.set(name, { name, size, md5: f?.md5 ?? null, sha256: sum });
  }
  return { path: abs, source, version, upstreamVersion: upstreamVersionOf(version), format: fields.Format!, files: [...byName.values()], fields };
}

async function hashFile(file: string, algo: 'sha256' | 'md5'): Promise<string> {
  const h = createHash(algo);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every file the .dsc lists is beside it, of the listed size and checksum. */
export async function verifyDscFiles(dsc: Dsc): Promise<void> {
  const dir = path.dirname(dsc.path);
  const missing: string[] = [];
  for (const f of dsc.files) {
    const p = path.join(dir, f.name);
    let size: number;
    try {
      size = (await fs.stat(p)).size;
    } catch {
      missing.push(f.name);
      continue;
    }
    if (size !== f.size) throw new RecipeError('DSC_FILE_CORRUPT', `${f.name}: ${size} bytes, the .dsc says ${f.size}`);
    const [algo, want] = f.sha256 ? (['sha256', f.sha256] as const) : (['md5', f.md5!] as const);
    const got = await hashFile(p, algo);
    if (got !== want) throw new RecipeError('DSC_FILE_CORRUPT', `${f.name}: ${algo} ${got} does not match the .dsc's ${want}`);
  }
  if (missing.length) {
    throw new RecipeError('DSC_FILE_MISSING', `files listed in ${path.basename(dsc.path)} are missing beside it: ${missing.join(', ')} (apt-get source --download-only ${dsc.source} fetches them all)`);
  }
}
