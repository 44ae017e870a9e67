/**
 * zod schemas of every JSON frame. Objects are strict: an unknown field is an error, not
 * something silently ignored (the other side may be hostile, or speak another version).
 */
import { z } from 'zod';
import { ManifestSchema, ArtifactEntrySchema } from '../record/manifest.js';
import { EnvironmentRecordSchema } from '../record/schema.js';
import { REMOTE_STATUSES } from './status.js';
import { seedSchema } from '../seed.js';
import { sha256Hex } from '../sha256.js';

/** Modes, chosen by the qrexec service argument. */
export const MODES = ['build', 'verify', 'info'] as const;
export type Mode = (typeof MODES)[number];

/** The build's own limits (the engine's BuildLimits less the sandbox's): the daemon's defaults and maxima. */
export const BuildLimitsSchema = z
  .object({
    timeoutMs: z.number().int().positive(),
    maxOutputBytes: z.number().int().positive(),
    maxOutputFiles: z.number().int().positive(),
    maxLogBytes: z.number().int().positive(),
  })
  .strict();

/** What a recipe may ask for: any of them (never more than the builder's maximum). */
export const RecipeLimitsSchema = BuildLimitsSchema.partial();
export type RecipeLimits = z.infer<typeof RecipeLimitsSchema>;

/**
 * The recipe: what to run on the sources. Every field is optional: command, epoch and seed
 * default to what the engine derives from the sources (the same defaults as
 * `detbuild build`); limits default to (and may not exceed) the builder's configured ones.
 */
export const RecipeSchema = z
  .object({
    /**
     * shell command run with `sh -c` in the source directory; artifacts go to $DETBUILD_OUT.
     * Default, as for `detbuild build`: `command` of the sources' detbuild.json, else make.
     */
    command: z.string().min(1).max(65536).optional(),
    /** SOURCE_DATE_EPOCH and the start of the logical clock, seconds */
    epoch: z.number().int().min(0).max(253402300799).optional(),
    /**
     * where `epoch` came from, when the caller resolved it from the sources (a git work
     * tree's HEAD: the sources travel without .git); recorded in the manifest as given
     */
    origin: z
      .object({
        epochFrom: z.literal('git'),
        gitCommit: z.string().regex(/^[0-9a-f]{40,64}$/).optional(),
      })
      .strict()
      .optional(),
    /** seed of every random stream, lowercase hex, 16 to 128 digits */
    seed: seedSchema.optional(),
    /** how far the logical clock advances on each read, nanoseconds */
    timeStepNs: z.number().int().min(1).max(1e12).optional(),
    /** extra environment variables for the build */
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'an environment variable name'), z.string().max(65536))
      .refine((e) => Object.keys(e).length <= 256, 'at most 256 variables')
      .optional(),
    limits: RecipeLimitsSchema.optional(),
    /** 'plain' runs without the determinism engine: the control run */
    mode: z.enum(['deterministic', 'plain']).optional(),
    /**
     * What the sources are. 'command' (the default): run `command`. 'dpkg': a Debian source
     * package, `dsc` and the files it lists at the top of the sources, built with
     * `dpkg-buildpackage -us -uc -b` (src/recipes/dpkg.ts); 'rpm': a source RPM or a spec (below).
     * For 'dpkg' and 'rpm', `command` and `env` are not allowed.
     */
    kind: z.enum(['command', 'dpkg', 'rpm']).optional(),
    /** for kind 'dpkg': the .dsc's file name (top level of the sources) */
    dsc: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.+~_-]*\.dsc$/, 'a .dsc file name').optional(),
    /**
     * for kind 'rpm' (src/recipes/rpm.ts): the .src.rpm's file name (top level of the sources),
     * rebuilt with `rpmbuild -ra`; or, instead, `spec`: the path of a NAME.spec or NAME.spec.in
     * inside the sources (a source tree as Qubes components keep it), made into a .src.rpm first
     */
    srpm: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._+~^-]*\.src\.rpm$/, 'a .src.rpm file name').optional(),
    spec: z
      .string()
      .max(4096)
      .regex(/^[A-Za-z0-9_][A-Za-z0-9._+-]*(\/[A-Za-z0-9_][A-Za-z0-9._+-]*)*\.spec(\.in)?$/, 'a relative path of a .spec or .spec.in')
      .optional(),
    /** for kinds 'dpkg' and 'rpm': skip the package's tests (DEB_BUILD_OPTIONS=nocheck, rpmbuild --nocheck) */
    nocheck: z.boolean().optional(),
    /**
     * for kind 'dpkg': the .changes and .buildinfo also list the .dsc and the
     * files it names, as sent (what `dpkg-buildpackage -sa` uploads); the source package is
     * not rebuilt
     */
    withSource: z.boolean().optional(),
    /**
     * the builder refuses the request, before building, unless the
     * `environmentSha256` of its environment record is this one
     */
    requireEnvironment: sha256Hex.optional(),
  })
  .strict();
export type Recipe = z.infer<typeof RecipeSchema>;

export const RequestEndSchema = z
  .object({
    /** number of tar bytes sent in source chunks */
    tarBytes: z.number().int().nonnegative(),
    tarSha256: sha256Hex,
  })
  .strict();
export type RequestEnd = z.infer<typeof RequestEndSchema>;

export const QueuedSchema = z
  .object({
    id: z.string(),
    /** builds ahead of this one (running or queued) */
    position: z.number().int().nonnegative(),
  })
  .strict();
export type Queued = z.infer<typeof QueuedSchema>;

const runTag = z.enum(['a', 'b']).optional();

/** A streamed build event: the engine's stage/log events, tagged with the run in verify mode. */
export const EventFrameSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('stage'),
      stage: z.enum(['receive', 'prepare', 'run', 'collect', 'compare', 'send', 'done']),
      message: z.string(),
      run: runTag,
    })
    .strict(),
  z
    .object({
      kind: z.literal('log'),
      stream: z.enum(['stdout', 'stderr']),
      line: z.string(),
      run: runTag,
    })
    .strict(),
]);
export type EventFrame = z.infer<typeof EventFrameSchema>;

export { ManifestSchema, EnvironmentRecordSchema };

/** What a verify run varied between its two builds, and what it found. */
export const VerifyReportSchema = z
  .object({
    identical: z.boolean(),
    /** the real conditions of each run (workspace path, umask, TZ, start time) */
    conditions: z.array(z.record(z.string(), z.string())).length(2),
    manifests: z.array(ManifestSchema.nullable()).length(2),
    /** artifacts whose presence, size or hash differ */
    differences: z.array(
      z
        .object({ path: z.string(), a: ArtifactEntrySchema.nullable(), b: ArtifactEntrySchema.nullable() })
        .strict(),
    ),
    /** diffoscope's text report (truncated), or null when diffoscope is not installed */
    diffoscope: z.string().nullable(),
  })
  .strict();
export type VerifyReport = z.infer<typeof VerifyReportSchema>;

export const ArtifactHeaderSchema = z
  .object({
    path: z.string(),
    size: z.number().int().nonnegative(),
    sha256: sha256Hex,
    executable: z.boolean(),
    /** the target when the artifact is a symlink (size 0, no data frames follow) */
    symlink: z.string().min(1).max(4096).nullable(),
  })
  .strict();
export type ArtifactHeader = z.infer<typeof ArtifactHeaderSchema>;

/** The last frame. `ok` is true only for status 'success'. */
export const FinalStatusSchema = z
  .object({
    status: z.enum(REMOTE_STATUSES),
    ok: z.boolean(),
    /** one-line explanation (always set when !ok) */
    message: z.string(),
    /** the service's exit code, repeated here so that the stream alone tells the outcome */
    exitCode: z.number().int().min(0).max(124),
    build: z
      .object({
        id: z.string(),
        exitCode: z.number().int().nullable(),
        signal: z.string().nullable(),
        durationMs: z.number().nonnegative(),
      })
      .strict()
      .nullable(),
  })
  .strict()
  .refine((s) => s.ok === (s.status === 'success'), 'ok must be true exactly when status is success');
export type FinalStatus = z.infer<typeof FinalStatusSchema>;
