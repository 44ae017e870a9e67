/** Safe extraction of untrusted archives: hostile entries refused, never skipped, nothing written outside. */
import { lstat, mkdir, readFile, readdir, readlink, rm } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonError } from '../../src/daemon/errors.js';
import { SourceExtractor } from '../../src/daemon/worker/extract.js';
import { HOSTILE, tarBytes } from './hostile.js';
import { tempDir } from '../helpers/daemon.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A root inside a parent that must stay untouched, and the parent's listing afterwards. */
async function extract(buf: Buffer, maxEntries = 1000, chunk = 700): Promise<{ root: string; parent: string; error: unknown }> {
  const parent = await tempDir('extract');
  dirs.push(parent);
  const root = path.join(parent, 'root');
  await mkdir(root);
  const x = new SourceExtractor(root, { maxEntries });
  try {
    for (let i = 0; i < buf.length; i += chunk) await x.write(buf.subarray(i, i + chunk));
    await x.finish();
    return { root, parent, error: null };
  } catch (err) {
    return { root, parent, error: err };
  }
}

describe('source extraction', () => {
  it('extracts files, directories, inner symlinks and hard links, with reduced modes and kept times', async () => {
    const buf = await tarBytes([
      { name: './', type: 'directory' },
      { name: './src/', type: 'directory' },
      { name: './src/main.c', content: 'int main(){}\n', mode: 0o4777 },
      { name: 'run.sh', content: '#!/bin/sh\n', mode: 0o775 },
      { name: 'src/link', type: 'symlink', linkname: 'main.c' },
      { name: 'up', type: 'symlink', linkname: 'src/../run.sh' },
      { name: 'dangling', type: 'symlink', linkname: 'nowhere/at/all' },
      { name: 'hard', type: 'link', linkname: 'src/main.c' },
      { name: 'deep/er/file', content: 'x' },
    ]);
    const { root, parent, error } = await extract(buf);
    expect(error).toBeNull();
    expect(await readdir(parent)).toEqual(['root']);
    expect(await readFile(path.join(root, 'src/main.c'), 'utf8')).toBe('int main(){}\n');
    expect((await lstat(path.join(root, 'src/main.c'))).mode & 0o7777).toBe(0o755);
    expect((await lstat(path.join(root, 'run.sh'))).mode & 0o7777).toBe(0o755);
    expect((await lstat(path.join(root, 'deep/er/file'))).mode & 0o7777).toBe(0o644);
    expect((await lstat(path.join(root, 'run.sh'))).mtimeMs).toBe(1700000000000);
    expect(await readlink(path.join(root, 'src/link'))).toBe('main.c');
    expect((await lstat(path.join(root, 'hard'))).ino).toBe((await lstat(path.join(root, 'src/main.c'))).ino);
  });

  it.each(HOSTILE)('refuses $what, writing nothing outside', async ({ entries, message }) => {
    const { parent, error } = await extract(await tarBytes(entries));
    expect(error).toBeInstanceOf(DaemonError);
    expect((error as DaemonError).kind).toBe('bad-input');
    expect((error as Error).message).toMatch(message);
    expect(await readdir(parent)).toEqual(['root']);
    await expect(lstat('/tmp/detbuild-escaped')).rejects.toThrow();
  });

  it('refuses more entries than the limit', async () => {
    const entries = Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, content: 'x' }));
    const { error } = await extract(await tarBytes(entries), 10);
    expect((error as DaemonError).code).toBe('REQUEST_TOO_MANY_FILES');
  });

  it('refuses a compressed archive and a malformed one', async () => {
    const gz = gzipSync(await tarBytes([{ name: 'a', content: 'x' }]));
    expect(((await extract(gz)).error as DaemonError).message).toMatch(/uncompressed/);
    const junk = Buffer.alloc(1024, 0x41);
    expect(((await extract(junk)).error as DaemonError).code).toBe('REQUEST_TAR');
  });

  it('refuses an archive cut in the middle of a file', async () => {
    const buf = await tarBytes([{ name: 'big', content: Buffer.alloc(10_000, 1) }]);
    const { error } = await extract(buf.subarray(0, 3000));
    expect((error as DaemonError).code).toBe('REQUEST_TAR');
  });
});
