/**
 * Reading a published in-toto statement (our SLSA provenance, src/record/intoto.ts) back:
 * only what a rebuild needs, validated, with the package list recovered from the
 * resolved dependencies' package URLs.
 */
import { z } from 'zod';
import { BUILD_TYPE } from '../record/intoto.js';
import { RecipeRecordSchema, type InstalledPackage, type RecipeRecord } from '../record/schema.js';
import { seedSchema } from '../seed.js';
import { isSha256, sha256Hex } from '../sha256.js';


export const StatementSchema = z.object({
  _type: z.literal('https://in-toto.io/Statement/v1'),
  subject: z.array(z.object({ name: z.string().min(1), digest: z.object({ sha256: sha256Hex }).passthrough() }).passthrough()),
  predicateType: z.literal('https://slsa.dev/provenance/v1'),
  predicate: z
    .object({
      buildDefinition: z
        .object({
          buildType: z.literal(BUILD_TYPE),
          externalParameters: z
            .object({
              command: z.string(),
              mode: z.enum(['deterministic', 'plain']),
              epoch: z.number().int().nonnegative(),
              seed: seedSchema,
              timeStepNs: z.string().regex(/^[0-9]+$/),
              recipe: RecipeRecordSchema.optional(),
            })
            .strict(),
          internalParameters: z
            .object({
              engineVersion: z.string().optional(),
              environmentSha256: sha256Hex,
              recordSha256: sha256Hex.optional(),
              kernel: z.string().optional(),
              osRelease: z.string().nullable().optional(),
              toolchain: z.record(z.string(), z.string().nullable()).optional(),
            })
            .passthrough(),
          resolvedDependencies: z.array(z.object({ uri: z.string().optional(), name: z.string().optional(), digest: z.record(z.string(), z.string()).optional() }).passthrough()),
        })
        .passthrough(),
      runDetails: z.object({ builder: z.object({ id: z.string() }).passthrough(), metadata: z.record(z.string(), z.unknown()).optional() }).passthrough(),
    })
    .passthrough(),
});
export type Statement = z.infer<typeof StatementSchema>;

/** What a statement says the build was: the parameters a rebuild must repeat. */
export interface BuildDescription {
  mode: 'deterministic' | 'plain';
  command: string;
  epoch: number;
  seed: string;
  timeStepNs: string;
  sourceHash: string;
  recipe: RecipeRecord;
}

export interface Subject {
  path: string;
  sha256: string;
}

export function describedBuild(s: Statement): BuildDescription {
  const p = s.predicate.buildDefinition.externalParameters;
  const sources = sourcesDigest(s);
  return { mode: p.mode, command: p.command, epoch: p.epoch, seed: p.seed, timeStepNs: p.timeStepNs, sourceHash: sources, recipe: p.recipe ?? { kind: 'command' } };
}

/** The sha256 of the `sources` dependency; throws when the statement has none. */
export function sourcesDigest(s: Statement): string {
  const dep = s.predicate.buildDefinition.resolvedDependencies.find((d) => d.name === 'sources');
  const digest = dep?.digest?.sha256;
  if (!digest || !isSha256(digest)) throw new TypeError('the statement names no sources digest (resolvedDependencies: name "sources")');
  return digest;
}

export function subjectsOf(s: Statement): Subject[] {
  return s.subject.map((x) => ({ path: x.name, sha256: x.digest.sha256 })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** `pkg:deb/debian/NAME@VERSION?arch=ARCH` (or pkg:rpm/...) back to a package; null for other URIs. */
export function packageFromPurl(uri: string): InstalledPackage | null {
  const m = /^pkg:(?:deb|rpm)\/[^/]+\/([^@?]+)@([^?]+)\?arch=([^&]+)$/.exec(uri);
  if (!m) return null;
  return { name: decodeURIComponent(m[1]!), version: decodeURIComponent(m[2]!), arch: decodeURIComponent(m[3]!) };
}

export function packagesOf(s: Statement): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const d of s.predicate.buildDefinition.resolvedDependencies) {
    const p = d.uri ? packageFromPurl(d.uri) : null;
    if (p) out.push(p);
  }
  return out;
}
