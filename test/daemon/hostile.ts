/** Hand-made tar archives, hostile ones included (tar-stream writes names as given). */
import { Readable } from 'node:stream';
import tar from 'tar-stream';

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
}

export async function tarBytes(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const content = e.content === undefined ? undefined : Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content);
    await new Promise<void>((resolve, reject) => {
      const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), linkname: e.linkname, mtime: new Date(1700000000000), devmajor: 1, devminor: 3 };
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(header, content ?? Buffer.alloc(0), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function tarStream(buf: Buffer): Readable {
  return Readable.from([buf]);
}

/** The hostile archives every layer must refuse, with what the error must say. */
export const HOSTILE: Array<{ what: string; entries: TarEntry[]; message: RegExp }> = [
  { what: 'path traversal (../)', entries: [{ name: '../escaped', content: 'x' }], message: /traversal/ },
  { what: 'deep path traversal', entries: [{ name: 'a/b/../../../escaped', content: 'x' }], message: /traversal/ },
  { what: 'an absolute path', entries: [{ name: '/tmp/detbuild-escaped', content: 'x' }], message: /absolute/ },
  { what: 'a symlink to an absolute path', entries: [{ name: 'link', type: 'symlink', linkname: '/etc' }], message: /outside the sources/ },
  { what: 'a symlink up and out', entries: [{ name: 'd/link', type: 'symlink', linkname: '../../etc' }], message: /outside the sources/ },
  {
    what: 'a symlink out through another symlink',
    entries: [
      { name: 'd', type: 'directory' },
      { name: 'd/up', type: 'symlink', linkname: '..' },
      { name: 'escape', type: 'symlink', linkname: 'd/up/../x' },
    ],
    message: /outside the sources/,
  },
  {
    what: 'a file written through a symlinked directory',
    entries: [
      { name: 'sub', type: 'directory' },
      { name: 'in', type: 'symlink', linkname: 'sub' },
      { name: 'in/file', content: 'x' },
    ],
    message: /through the symlink/,
  },
  { what: 'a hard link to a file outside', entries: [{ name: 'h', type: 'link', linkname: '/etc/passwd' }], message: /outside the sources/ },
  { what: 'a hard link up and out', entries: [{ name: 'h', type: 'link', linkname: '../../etc/passwd' }], message: /traversal/ },
  {
    what: 'a hard link to a symlink',
    entries: [
      { name: 's', type: 'symlink', linkname: 'x' },
      { name: 'h', type: 'link', linkname: 's' },
    ],
    message: /not a regular file/,
  },
  { what: 'a character device', entries: [{ name: 'null', type: 'character-device' }], message: /device nodes/ },
  { what: 'a block device', entries: [{ name: 'disk', type: 'block-device' }], message: /device nodes/ },
  { what: 'a FIFO', entries: [{ name: 'pipe', type: 'fifo' }], message: /FIFOs/ },
  {
    what: 'a duplicate entry',
    entries: [
      { name: 'a', content: 'one' },
      { name: 'a', content: 'two' },
    ],
    message: /duplicate/,
  },
];
