/**
 * What is checked before anything is made: the spec's values, its source directory, the
 * output directory (absent or empty), the build user (when the engine runs as root), and
 * the host's facilities (bubblewrap, the supervisor, user namespaces).
 */
import { checkFacilities } from './facilities.js';
import { buildHostUser, type HostUser } from './host-user.js';
import { assertOutDirUsable } from './publish.js';
import { assertDirectory, validateSpec } from './spec.js';
import type { BuildSpec } from './types.js';

/** Returns the host user the build runs as (null: as this process's user). */
export async function preflight(spec: BuildSpec, outDir: string, buildUser: string | undefined): Promise<HostUser | null> {
  validateSpec(spec);
  await assertDirectory(spec.sourceDir, 'source directory');
  await assertOutDirUsable(outDir);
  // run by root, the build runs as an unprivileged host user (never with root's access)
  const user = buildHostUser(buildUser);
  await checkFacilities(true, user); // the supervisor is the sandbox's pid 1 in both modes
  return user;
}
