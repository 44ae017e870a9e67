/**
 * Directory trees as lists of files: listing, hashing, copying a clean snapshot,
 * and comparing two build results byte for byte.
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's top directory. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** A fresh directory under the system's temporary directory. */
export async function freshDir(label: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `detbuild-test-${label}-`));
}

/** Removes test directories unless DETBUILD_TEST_KEEP is set (then says where they are). */
export async function removeUnlessKept(...dirs: string[]): Promise<void> {
  if (process.env.DETBUILD_TEST_KEEP) {
    console.info(`kept for inspection: ${dirs.join(' ')}`);
    return;
  }
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

/**
 * Copies a source tree to a fresh temporary directory, keeping file times and
 * modes, and leaving out top-level entries named in `exclude` (build leftovers
 * such as `out` and `build`), so a fixture run by hand in place is not copied.
 * The copy goes to INTO/basename(src) when `into` is given.
 */
export async function cleanCopy(src: string, exclude: string[] = ['out', 'build'], into?: string): Promise<string> {
  const dest = path.join(into ?? (await freshDir('src')), path.basename(src));
  const skip = new Set(exclude.map((e) => path.join(src, e)));
  await cp(src, dest, {
    recursive: true,
    preserveTimestamps: true,
    verbatimSymlinks: true,
    filter: (from) => !skip.has(from),
  });
  return dest;
}

/**
 * Writes a fresh copy of a source tree the way a checkout would, in the given
 * order: files get new times and inode numbers, and directories list them in
 * creation order wherever the filesystem does; modes as under `umask`.
 * Returns INTO/basename(src).
 */
export async function checkoutInOrder(src: string, order: 'forward' | 'reverse', into?: string, umask = 0o022): Promise<string> {
  const dest = path.join(into ?? (await freshDir('checkout')), path.basename(src));
  const files = await listFiles(src);
  if (order === 'reverse') files.reverse();
  for (const rel of files) {
    await mkdir(path.dirname(path.join(dest, rel)), { recursive: true });
    await copyFile(path.join(src, rel), path.join(dest, rel));
    await chmod(path.join(dest, rel), (await stat(path.join(src, rel))).mode & 0o777 & ~umask);
  }
  return dest;
}

/** Every regular file (and symlink) under `root`, as sorted '/'-separated relative paths. */
export async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, rel: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(path.join(dir, entry.name), relPath);
      else out.push(relPath);
    }
  }
  await walk(root, '');
  return out.sort();
}

export async function sha256File(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

export interface TreeComparison {
  same: string[];
  differ: string[];
  onlyA: string[];
  onlyB: string[];
}

/** Compares two trees file by file, by bytes. */
export async function compareTrees(a: string, b: string): Promise<TreeComparison> {
  const [filesA, filesB] = await Promise.all([listFiles(a), listFiles(b)]);
  const setB = new Set(filesB);
  const setA = new Set(filesA);
  const result: TreeComparison = {
    same: [],
    differ: [],
    onlyA: filesA.filter((f) => !setB.has(f)),
    onlyB: filesB.filter((f) => !setA.has(f)),
  };
  for (const f of filesA.filter((x) => setB.has(x))) {
    const [ba, bb] = await Promise.all([readFile(path.join(a, f)), readFile(path.join(b, f))]);
    (ba.equals(bb) ? result.same : result.differ).push(f);
  }
  return result;
}

/** True when `file` exists and is a directory with at least one entry. */
export async function isNonEmptyDir(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isDirectory() && (await readdir(file)).length > 0;
  } catch {
    return false;
  }
}
