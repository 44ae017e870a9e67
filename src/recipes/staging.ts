/**
 * Where a recipe stages a package before the engine builds it: the caller's directory
 * (made here, removed by cleanup), or a private temporary one.
 */
import { promises as fs } from 'node:fs';
import { dir as tmpDir } from 'tmp-promise';

export interface Staging {
  root: string;
  /** removes the staged files; never throws */
  cleanup(): Promise<void>;
}

export async function stagingRoot(stageDir: string | undefined, prefix: string): Promise<Staging> {
  if (stageDir) {
    await fs.mkdir(stageDir, { recursive: false });
    return { root: stageDir, cleanup: async () => fs.rm(stageDir, { recursive: true, force: true }).catch(() => undefined) };
  }
  const dir = await tmpDir({ prefix, unsafeCleanup: true });
  return { root: dir.path, cleanup: async () => dir.cleanup().catch(() => undefined) };
}
