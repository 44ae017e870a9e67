/**
 * The builder's own tools that the host side runs or asks about (dpkg-source, rpmbuild, gcc --version):
 * whether one is installed, found on PATH as a shell would find it, without starting a
 * shell for each question.
 */
import { constants as FS, promises as fs } from 'node:fs';
import path from 'node:path';

/** The absolute path of `tool` on PATH (an executable regular file), or null. */
export async function findOnPath(tool: string, pathVar: string = process.env.PATH ?? '/usr/bin:/bin'): Promise<string | null> {
  if (tool.length === 0 || tool.includes('/')) return null;
  for (const dir of pathVar.split(':')) {
    // an empty entry is the working directory, as for a shell; a recipe never wants that
    if (!dir || !path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, tool);
    try {
      const st = await fs.stat(candidate);
      if (!st.isFile()) continue;
      await fs.access(candidate, FS.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}
