/**
 * Looks inside archives a build produced (tar, tar.gz, gzip, zip/jar) to tell
 * apart what differs in their members from what differs only in the file times
 * they record. File times are the filesystem issue's; this lets a test require
 * identical members now and just show the times.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';

export interface Member {
  name: string;
  /** everything but times, as one comparable string (type, mode, owner, size, content hash) */
  identity: string;
  /** the times the archive records for it, as one string */
  times: string;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 16);

export async function tarMembers(buf: Buffer): Promise<Member[]> {
  const extract = tar.extract();
  const members: Member[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const h = entry.header;
      members.push({
        name: h.name,
        identity: [h.type, (h.mode ?? 0).toString(8), h.uid, h.gid, h.uname, h.gname, h.size, h.linkname ?? '', sha(Buffer.concat(chunks))].join(' '),
        times: `mtime ${h.mtime?.toISOString() ?? '-'}`,
      });
    }
  })();
  extract.end(buf);
  await done;
  return members;
}

export interface GzipHeader {
  /** seconds since the epoch as stored (0: none) */
  mtime: number;
  /** original file name when stored */
  name: string | null;
}

export function gzipHeader(buf: Buffer): GzipHeader {
  if (buf[0] !== 0x1f || buf[1] !== 0x8b) throw new Error('not gzip data');
  const flags = buf[3]!;
  let off = 10;
  if (flags & 0x04) off += 2 + buf.readUInt16LE(off); // FEXTRA
  let name: string | null = null;
  if (flags & 0x08) {
    const end = buf.indexOf(0, off);
    name = buf.subarray(off, end).toString('latin1');
  }
  return { mtime: buf.readUInt32LE(4), name };
}

export function gzipMembers(buf: Buffer): Member[] {
  const h = gzipHeader(buf);
  return [{ name: h.name ?? '(stdin)', identity: sha(gunzipSync(buf)), times: `gzip mtime ${h.mtime}` }];
}

/** Entries of a zip (or jar) from its central directory. */
export function zipMembers(buf: Buffer): Member[] {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('not a zip file (no end of central directory)');
  const count = buf.readUInt16LE(eocd + 10);
  let off = buf.readUInt32LE(eocd + 16);
  const members: Member[] = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(off) !== 0x02014b50) throw new Error('bad zip central directory');
    const method = buf.readUInt16LE(off + 10);
    const time = buf.readUInt16LE(off + 12);
    const date = buf.readUInt16LE(off + 14);
    const crc = buf.readUInt32LE(off + 16);
    const size = buf.readUInt32LE(off + 24);
    const nameLen = buf.readUInt16LE(off + 28);
    const extraLen = buf.readUInt16LE(off + 30);
    const commentLen = buf.readUInt16LE(off + 32);
    const extAttr = buf.readUInt32LE(off + 38);
    const name = buf.subarray(off + 46, off + 46 + nameLen).toString('utf8');
    members.push({
      name,
      identity: [method, crc.toString(16), size, (extAttr >>> 16).toString(8)].join(' '),
      times: `dos ${date.toString(16)}:${time.toString(16)} extra ${sha(buf.subarray(off + 46 + nameLen, off + 46 + nameLen + extraLen))}`,
    });
    off += 46 + nameLen + extraLen + commentLen;
  }
  return members;
}

/** Members of an archive file, chosen by its name. */
export async function archiveMembers(file: string): Promise<Member[]> {
  const buf = await readFile(file);
  if (file.endsWith('.tar')) return tarMembers(buf);
  if (file.endsWith('.tar.gz') || file.endsWith('.tgz')) {
    const header: Member = { name: '(gzip header)', identity: '', times: `gzip mtime ${gzipHeader(buf).mtime}` };
    return [header, ...(await tarMembers(gunzipSync(buf)))];
  }
  if (file.endsWith('.gz')) return gzipMembers(buf);
  if (file.endsWith('.zip') || file.endsWith('.jar')) return zipMembers(buf);
  throw new Error(`not an archive this helper reads: ${file}`);
}

export function isArchive(file: string): boolean {
  return /\.(tar|tar\.gz|tgz|gz|zip|jar)$/.test(file);
}

export interface ArchiveComparison {
  /** member differences other than times: names, order, modes, owners, contents */
  memberDiffs: string[];
  /** differences in recorded times only */
  timeDiffs: string[];
}

/** Compares two archives member by member (in order: member order is content too). */
export async function compareArchives(a: string, b: string): Promise<ArchiveComparison> {
  const [ma, mb] = await Promise.all([archiveMembers(a), archiveMembers(b)]);
  const memberDiffs: string[] = [];
  const timeDiffs: string[] = [];
  for (let i = 0; i < Math.max(ma.length, mb.length); i++) {
    const x = ma[i];
    const y = mb[i];
    if (!x || !y || x.name !== y.name || x.identity !== y.identity) {
      memberDiffs.push(`#${i}: ${x ? `${x.name} ${x.identity}` : '(none)'} | ${y ? `${y.name} ${y.identity}` : '(none)'}`);
    } else if (x.times !== y.times) {
      timeDiffs.push(`${x.name}: ${x.times} | ${y.times}`);
    }
  }
  return { memberDiffs, timeDiffs };
}
