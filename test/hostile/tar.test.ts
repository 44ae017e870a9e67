/**
 * Hostile source archives the extractor must refuse, never skip or rewrite: entry types it
 * does not know (GNU sparse 'S', an unknown 'Z'), a PAX path with a NUL in it (node-tar cuts
 * the name there), names that are not UTF-8 (node-tar turns them into U+FFFD).
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonError } from '../../src/daemon/errors.js';
import { SourceExtractor } from '../../src/daemon/worker/extract.js';
import { tempDir } from '../helpers/daemon.js';
import { paxRecord, rawTar, type RawEntry } from './raw-tar.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function extract(buf: Buffer, chunk = 512): Promise<{ root: string; error: unknown }> {
  const parent = await tempDir('hostile-tar');
  dirs.push(parent);
  const root = path.join(parent, 'root');
  await mkdir(root);
  const x = new SourceExtractor(root, { maxEntries: 1000 });
  try {
    for (let i = 0; i < buf.length; i += chunk) await x.write(buf.subarray(i, i + chunk));
    await x.finish();
    return { root, error: null };
  } catch (err) {
    return { root, error: err };
  }
}

const latin1Name = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x63]); // "café.c" in Latin-1: not UTF-8

const REFUSED: Array<{ what: string; entries: RawEntry[]; message: RegExp }> = [
  { what: 'a GNU sparse file (type S)', entries: [{ name: 'sparse', type: 'S', body: 'x' }], message: /type .*S.* not accepted|SparseFile/ },
  { what: 'an entry of an unknown type (Z)', entries: [{ name: 'zed', type: 'Z', body: 'x' }], message: /unknown type/ },
  {
    what: 'a PAX path with a NUL in it',
    entries: [
      { name: 'PaxHeader', type: 'x', body: paxRecord('path', Buffer.from('safe.txt\0../../evil')) },
      { name: 'placeholder', type: '0', body: 'x' },
    ],
    message: /NUL/,
  },
  {
    what: 'a PAX linkpath with a NUL in it',
    entries: [
      { name: 'PaxHeader', type: 'x', body: paxRecord('linkpath', Buffer.from('a\0b')) },
      { name: 'link', type: '2', linkname: 'x' },
    ],
    message: /NUL/,
  },
  { what: 'a name that is not UTF-8 (header field)', entries: [{ name: latin1Name, type: '0', body: 'x' }], message: /UTF-8/ },
  {
    what: 'a PAX path that is not UTF-8',
    entries: [
      { name: 'PaxHeader', type: 'x', body: paxRecord('path', latin1Name) },
      { name: 'placeholder', type: '0', body: 'x' },
    ],
    message: /UTF-8/,
  },
  { what: 'a symlink target that is not UTF-8', entries: [{ name: 'l', type: '2', linkname: latin1Name }], message: /UTF-8/ },
];

describe('hostile archives: refused with a clear error, nothing extracted', () => {
  it.each(REFUSED)('$what', async ({ entries, message }) => {
    const { root, error } = await extract(rawTar(entries));
    expect(error).toBeInstanceOf(DaemonError);
    expect((error as DaemonError).kind).toBe('bad-input');
    expect((error as Error).message).toMatch(message);
    // nothing was written under a cut or replaced name either
    expect((await readdir(root)).filter((n) => n !== 'placeholder')).toEqual([]);
  });

  it('the control: well-formed UTF-8 names, PAX paths included, are extracted as sent', async () => {
    const long = `${'d'.repeat(120)}/é-ü-✓.c`;
    const { root, error } = await extract(
      rawTar([
        { name: 'caf\u00e9.c', type: '0', body: 'x' },
        { name: 'PaxHeader', type: 'x', body: paxRecord('path', long) },
        { name: 'placeholder', type: '0', body: 'y' },
      ]),
    );
    expect(error).toBeNull();
    expect((await readdir(root)).sort()).toEqual(['café.c', 'd'.repeat(120)]);
    expect(await readdir(path.join(root, 'd'.repeat(120)))).toEqual(['é-ü-✓.c']);
  });
});
