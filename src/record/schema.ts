/**
 * The environment record: what anyone needs to rebuild, and to tell that a rebuild ran in
 * a different environment. Field names follow Debian's .buildinfo where one exists
 * (Installed-Build-Depends -> packages, Build-Architecture, Build-Kernel-Version,
 * Environment -> build); see buildinfo.ts and intoto.ts for the standard renderings.
 */
import { z } from 'zod';
import { sha256Hex } from '../sha256.js';

export const RECORD_FORMAT = 'detbuild-record/1';


export const InstalledPackageSchema = z
  .object({
    name: z.string().min(1),
    version: z.string(),
    arch: z.string(),
  })
  .strict();
export type InstalledPackage = z.infer<typeof InstalledPackageSchema>;

export const EnvironmentSchema = z
  .object({
    /** every key of /etc/os-release (or /usr/lib/os-release) */
    osRelease: z.record(z.string(), z.string()),
    kernel: z
      .object({ sysname: z.string(), release: z.string(), version: z.string(), machine: z.string() })
      .strict(),
    /** Debian architecture name (dpkg --print-architecture) or rpm's basearch, else uname -m */
    architecture: z.string(),
    packageManager: z.enum(['dpkg', 'rpm', 'none']),
    /** installed packages, sorted by name then arch */
    packages: z.array(InstalledPackageSchema),
    /** first line of each tool's version output; null when the tool is absent */
    toolchain: z.record(z.string(), z.string().nullable()),
    /**
     * the installed toolchains' state directories every build sees read-only
     * (src/engine/toolchain-state.ts), relative to /; absent in records of
     * engines before they were bound in every build
     */
    toolchainState: z.array(z.string()).optional(),
    engine: z.object({ name: z.string(), version: z.string() }).strict(),
  })
  .strict();
export type Environment = z.infer<typeof EnvironmentSchema>;

/**
 * What kind of input the build was made from, beyond its command: a rebuilder needs it to
 * prepare the same spec from the same sources ('command': the sources as they are, with
 * the recipe's extra environment; 'dpkg': a Debian source package, staged and unpacked by
 * src/recipes/dpkg.ts). Optional in a record: records made before it existed hash as before.
 */
export const RecipeRecordSchema = z
  .object({
    kind: z.enum(['command', 'dpkg', 'rpm']),
    /** kind 'dpkg': the .dsc's file name */
    dsc: z.string().min(1).optional(),
    /** kind 'rpm': the .src.rpm's file name (for a spec build, the .src.rpm its first phase made) */
    srpm: z.string().min(1).optional(),
    /** kind 'dpkg': DEB_BUILD_OPTIONS=nocheck; kind 'rpm': rpmbuild --nocheck */
    nocheck: z.boolean().optional(),
    /** kind 'command': the extra environment variables the recipe set */
    env: z.record(z.string(), z.string()).optional(),
  })
  .strict();
export type RecipeRecord = z.infer<typeof RecipeRecordSchema>;

/** What the build spec fixed (null in a record for `+info`, which builds nothing). */
export const BuildParametersSchema = z
  .object({
    mode: z.enum(['deterministic', 'plain']),
    command: z.string(),
    /** SOURCE_DATE_EPOCH, seconds */
    epoch: z.number().int().nonnegative(),
    seed: z.string(),
    /** decimal nanoseconds (a string: it is a bigint in the engine) */
    timeStepNs: z.string().regex(/^[0-9]+$/),
    /** sha256 over the sources as the engine copied them */
    sourceHash: z.string().nullable(),
    /** the git commit the sources were checked out at, when the caller's sources were a git work tree */
    gitCommit: z.string().regex(/^[0-9a-f]{40,64}$/).optional(),
    recipe: RecipeRecordSchema.optional(),
  })
  .strict();
export type BuildParameters = z.infer<typeof BuildParametersSchema>;

export const EnvironmentRecordSchema = z
  .object({
    format: z.literal(RECORD_FORMAT),
    environment: EnvironmentSchema,
    /** sha256 over the canonical JSON of `environment` alone: equal for any build here */
    environmentSha256: sha256Hex,
    build: BuildParametersSchema.nullable(),
    /** sha256 over the canonical JSON of { format, environment, build }: all of it */
    sha256: sha256Hex,
  })
  .strict();
export type EnvironmentRecord = z.infer<typeof EnvironmentRecordSchema>;
