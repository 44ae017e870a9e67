/** Moves a tree into place: a rename, or a copy (links kept as links, times kept) across file systems. */
import { promises as fs } from 'node:fs';

export async function moveTree(from: string, to: string): Promise<void> {
  try {
    await fs.rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await fs.cp(from, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  }
}
