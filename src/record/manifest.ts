/**
 * The artifact manifest (the engine's `Manifest`, format detbuild-manifest/1) as a zod
 * schema, so that a manifest arriving from another qube is validated before it is used.
 */
import { z } from 'zod';
import { sha256Hex } from '../sha256.js';
import type { ArtifactEntry, Manifest } from '../engine/types.js';

export const ArtifactEntrySchema = z
  .object({
    path: z.string().min(1),
    size: z.number().int().nonnegative(),
    sha256: sha256Hex,
  })
  .strict() satisfies z.ZodType<ArtifactEntry>;

export const ManifestSchema = z
  .object({
    format: z.literal('detbuild-manifest/1'),
    engineVersion: z.string(),
    mode: z.enum(['deterministic', 'plain']),
    epoch: z.number().int().nonnegative(),
    seed: z.string(),
    timeStepNs: z.string(),
    command: z.string(),
    sourceHash: z.string(),
    epochFrom: z.enum(['option', 'detbuild.json', 'git', 'debian/changelog', 'rpm-spec', 'default']).optional(),
    gitCommit: z.string().regex(/^[0-9a-f]{40,64}$/).optional(),
    artifacts: z.array(ArtifactEntrySchema),
  })
  .strict() satisfies z.ZodType<Manifest>;

/** Two manifests' artifact lists compared entry by entry (path, size, sha256). */
export interface ArtifactDifference {
  path: string;
  a: ArtifactEntry | null;
  b: ArtifactEntry | null;
}

export function diffArtifacts(a: readonly ArtifactEntry[], b: readonly ArtifactEntry[]): ArtifactDifference[] {
  const byPath = new Map<string, ArtifactDifference>();
  for (const e of a) byPath.set(e.path, { path: e.path, a: e, b: null });
  for (const e of b) {
    const d = byPath.get(e.path);
    if (d) d.b = e;
    else byPath.set(e.path, { path: e.path, a: null, b: e });
  }
  return [...byPath.values()]
    .filter((d) => !d.a || !d.b || d.a.sha256 !== d.b.sha256 || d.a.size !== d.b.size)
    .sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}
