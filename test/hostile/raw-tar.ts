/**
 * Tar archives written byte by byte, for what no tar library will produce on purpose:
 * unknown entry types, NUL inside a PAX record, names that are not UTF-8.
 */

export interface RawEntry {
  /** the name field's raw bytes (at most 100) */
  name: Buffer | string;
  /** the type flag, one character ('0' file, '5' directory, 'x' PAX header, 'S' sparse, 'Z' unknown...) */
  type: string;
  body?: Buffer | string;
  linkname?: Buffer | string;
  mode?: number;
}

function field(b: Buffer, off: number, len: number, value: Buffer | string): void {
  const v = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
  if (v.length > len) throw new Error(`field too long: ${v.length} > ${len}`);
  v.copy(b, off);
}

function octal(n: number, len: number): string {
  return `${n.toString(8).padStart(len - 1, '0')}\0`;
}

/** One 512-byte ustar header, checksum included. */
export function rawHeader(e: RawEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  field(h, 0, 100, e.name);
  field(h, 100, 8, octal(e.mode ?? 0o644, 8));
  field(h, 108, 8, octal(0, 8));
  field(h, 116, 8, octal(0, 8));
  field(h, 124, 12, octal(size, 12));
  field(h, 136, 12, octal(1700000000, 12));
  field(h, 148, 8, '        ');
  field(h, 156, 1, e.type);
  if (e.linkname !== undefined) field(h, 157, 100, e.linkname);
  field(h, 257, 6, 'ustar\0');
  field(h, 263, 2, '00');
  let sum = 0;
  for (const byte of h) sum += byte;
  field(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

function pad(body: Buffer): Buffer {
  const rest = body.length % 512;
  return rest === 0 ? body : Buffer.concat([body, Buffer.alloc(512 - rest)]);
}

/** A whole archive: each entry's header and padded body, then the two zero blocks. */
export function rawTar(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = e.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.body) ? e.body : Buffer.from(e.body, 'utf8');
    parts.push(rawHeader(e, body.length), pad(body));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** One PAX record (`LEN key=value\n`), the value as raw bytes. */
export function paxRecord(key: string, value: Buffer | string): Buffer {
  const v = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
  const rest = Buffer.concat([Buffer.from(` ${key}=`), v, Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}
