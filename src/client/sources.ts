/**
 * The sources as a deterministic tar stream, a function of their content only: entries
 * in byte-wise sorted order, VCS metadata left out (the engine's own walk), owner 0, no
 * user or group names, modes reduced to 0755/0644, every time DEFAULT_EPOCH (the engine
 * uses no file time; the epoch of a git work tree, which the builder cannot read without
 * .git, is resolved here: see remote.ts). Special files are refused, as the engine
 * refuses them.
 */
import { constants as FS, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { ClientError } from './errors.js';
import { walkTree, type SourceEntry } from '../engine/sources.js';
import { DEFAULT_EPOCH } from '../engine/source-date.js';
import { SpecError } from '../engine/errors.js';
import { DIR_MODE, fileMode, isExecutable } from '../engine/modes.js';

/** The engine's own walk: same order, same VCS metadata left out, same refusal of special files. */
async function walk(root: string): Promise<SourceEntry[]> {
  try {
    return await walkTree(root);
  } catch (err) {
    if (err instanceof SpecError) throw new ClientError('CLIENT_SPECIAL_FILE', err.message.replace('source tree holds', 'the sources hold'), { cause: err });
    throw err;
  }
}

/** Packs `root` into a tar stream (read it to completion; errors surface on the stream). */
export function packSources(root: string): Readable {
  const pack = tar.pack();
  (async () => {
    const st = await fs.stat(root).catch((err: unknown) => {
      throw new ClientError('CLIENT_SOURCES', `cannot read the source directory ${root}`, { cause: err });
    });
    if (!st.isDirectory()) throw new ClientError('CLIENT_SOURCES', `not a directory: ${root}`);
    for (const e of await walk(root)) {
      const base = { name: e.rel, mtime: new Date(DEFAULT_EPOCH * 1000), uid: 0, gid: 0, uname: '', gname: '' };
      if (e.kind === 'dir') {
        await entry(pack, { ...base, type: 'directory', mode: DIR_MODE });
      } else if (e.kind === 'symlink') {
        await entry(pack, { ...base, type: 'symlink', mode: 0o777, linkname: await fs.readlink(path.join(root, e.rel)) });
      } else {
        const fh = await fs.open(path.join(root, e.rel), FS.O_RDONLY | FS.O_NOFOLLOW);
        try {
          const size = (await fh.stat()).size;
          // tar-stream's streams are streamx streams: used here through the Node-like subset
          const sink = pack.entry({ ...base, type: 'file', mode: fileMode(isExecutable(e.mode)), size }) as unknown as NodeJS.WritableStream;
          const done = new Promise<void>((resolve, reject) => {
            sink.on('finish', () => resolve());
            sink.on('error', reject);
          });
          let left = size;
          for await (const chunk of fh.createReadStream({ autoClose: false, end: Math.max(size - 1, 0) }) as AsyncIterable<Buffer>) {
            if (size === 0) break;
            const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
            left -= piece.length;
            if (!sink.write(piece)) await new Promise<void>((r) => sink.once('drain', () => r()));
            if (left === 0) break;
          }
          if (left !== 0) throw new ClientError('CLIENT_SOURCES', `${e.rel} changed while it was being sent`);
          sink.end();
          await done;
        } finally {
          await fh.close().catch(() => undefined);
        }
      }
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as Readable;
}

function entry(pack: tar.Pack, header: tar.Header extends infer H ? Partial<H> & { name: string } : never): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(header, (err) => (err ? reject(err) : resolve()));
  });
}
