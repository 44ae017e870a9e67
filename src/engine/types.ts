/**
 * The engine's public types: one build spec in, one result shape out.
 *
 * Everything a build can observe is decided by the BuildSpec (and recorded in the
 * manifest), so "what did this build see?" has one answer.
 */

/** How a build's processes are run. */
export type EngineMode =
  /** the determinism engine: sandbox + supervisor (the product) */
  | 'deterministic'
  /** the same sandbox layout but no supervisor and the caller's real conditions: the control run */
  | 'plain';

export interface BuildLimits {
  /** wall-clock limit for the whole build, in milliseconds (killed with its process tree past it) */
  timeoutMs: number;
  /** maximum total size of the artifacts under $DETBUILD_OUT, in bytes */
  maxOutputBytes: number;
  /** maximum number of artifact files */
  maxOutputFiles: number;
  /** maximum size of the build log kept, in bytes (the rest is truncated with a marker) */
  maxLogBytes: number;
  /*
   * Limits of the sandbox itself (see supervise/limits.ts; each defaults to SANDBOX_LIMIT_DEFAULTS when
   * absent). Past one the build is killed and its status is 'limit', naming it.
   */
  /** processes and threads of the build at once */
  maxProcesses?: number;
  /** memory the build holds: resident anonymous and shared memory of its processes, plus its /tmp and /dev/shm */
  maxMemoryBytes?: number;
  /** bytes allocated on disk under /build/src, /build/home and $DETBUILD_OUT together */
  maxDiskBytes?: number;
  /** size of the build's /tmp (a tmpfs) */
  maxTmpBytes?: number;
  /** size of the build's /dev/shm (a tmpfs) */
  maxShmBytes?: number;
}

/** Which rule gave a build's epoch (src/engine/source-date.ts). */
export type EpochOrigin = 'option' | 'detbuild.json' | 'git' | 'debian/changelog' | 'rpm-spec' | 'default';

/** Where the sources' defaults came from: recorded in the manifest, never seen by the build. */
export interface SourceOrigin {
  epochFrom: EpochOrigin;
  /** HEAD's commit id when the sources are a git work tree */
  gitCommit?: string;
}

export interface BuildSpec {
  /** host directory holding the sources; it is copied, never modified */
  sourceDir: string;
  /** shell command run with `sh -c` in the sandbox's source directory */
  command: string;
  /** SOURCE_DATE_EPOCH and the start of the logical wall clock, in seconds */
  epoch: number;
  /** seed of every random stream, lowercase hex (at least 16 hex digits) */
  seed: string;
  /** how far the logical wall clock advances on each read, in nanoseconds */
  timeStepNs: bigint;
  /** extra environment variables set by the recipe (validated names; cannot override the engine's fixed ones) */
  env: Record<string, string>;
  limits: BuildLimits;
  mode: EngineMode;
  /**
   * host directories the build also sees read-only, at the same place, as paths
   * relative to / (e.g. `var/lib/foo`), besides the installed toolchains' state
   * that every build sees (toolchain-state.ts). Set by recipes, never by a remote caller.
   */
  hostDirs?: string[];
  /** where the epoch came from, and the git commit: copied into the manifest */
  origin?: SourceOrigin;
}

/** Where a finished build put its results. */
export interface ArtifactEntry {
  /** path relative to the artifacts directory, '/'-separated */
  path: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  format: 'detbuild-manifest/1';
  engineVersion: string;
  mode: EngineMode;
  epoch: number;
  seed: string;
  timeStepNs: string;
  command: string;
  /** sha256 over the sources as copied (path, mode, content), the default seed's origin */
  sourceHash: string;
  /** which rule gave the epoch (absent when the spec did not say) */
  epochFrom?: EpochOrigin;
  /** the git commit the sources were checked out at, when they were a git work tree */
  gitCommit?: string;
  artifacts: ArtifactEntry[];
}

export type BuildStatus =
  | 'success'
  /** the build command exited non-zero or was killed by a signal of its own, or left output that cannot be published (a special file, an unacceptable name) */
  | 'failed'
  /** killed after limits.timeoutMs */
  | 'timeout'
  /** killed because the artifacts exceeded limits.maxOutputBytes / maxOutputFiles */
  | 'output-limit'
  /** killed (or failed) past a limit of the sandbox: processes, memory, disk, /tmp or /dev/shm (BuildResult.limit) */
  | 'limit'
  /** cancelled by the caller (AbortSignal) */
  | 'cancelled'
  /** the engine itself could not run the build (missing facility, bad spec, I/O error) */
  | 'error';

/** One result shape for success and failure. */
export interface BuildResult {
  ok: boolean;
  status: BuildStatus;
  /** exit code of the build command, when it exited */
  exitCode: number | null;
  /** signal that killed the build command, when it was killed */
  signal: string | null;
  /** one-line human explanation (always set when !ok) */
  message: string;
  /** final output directory (artifacts/, manifest.json, build.log); null when nothing was produced */
  outDir: string | null;
  manifest: Manifest | null;
  /** path of the kept build log (inside outDir on success, beside it on failure) */
  logPath: string | null;
  durationMs: number;
  /** for status 'error' (and 'failed' over its output): the typed error's code (e.g. SOURCE_MISSING, OUT_NOT_EMPTY, ENGINE_NO_BWRAP, ARTIFACT_NAME) */
  errorCode?: string;
  /** for status 'error': true when the request itself was wrong rather than the engine */
  badInput?: boolean;
  /** for status 'limit': which limit */
  limit?: SandboxLimitName;
}

/** The sandbox's limits, as a 'limit' status names them. */
export type SandboxLimitName = 'processes' | 'memory' | 'disk' | 'tmp' | 'shm';

/** A streamed build event (tagged union, formatted exhaustively by each front end). */
export type BuildEvent =
  | { kind: 'stage'; stage: 'prepare' | 'run' | 'collect' | 'done'; message: string }
  | { kind: 'log'; stream: 'stdout' | 'stderr'; line: string }
  /** something the engine could not do that did not change the result (a workspace it could not remove) */
  | { kind: 'warning'; message: string }
  | { kind: 'end'; result: BuildResult };

export interface RunOptions {
  /** final directory for the result; must not exist or be empty */
  outDir: string;
  onEvent?: (event: BuildEvent) => void;
  signal?: AbortSignal;
  /** the CPU the build is pinned to (default: the first this process may use); builds side by side take one each */
  cpu?: number;
  /**
   * called with the staging directory (artifacts/, manifest.json, build.log already there)
   * before it is renamed to outDir: what a caller adds is published with the rest, atomically
   */
  beforePublish?: (stagingDir: string, manifest: Manifest) => Promise<void>;
  /**
   * when the engine runs as root: the unprivileged host user the build is started as (a
   * name, `UID` or `UID:GID`; default $DETBUILD_BUILD_USER, else `nobody`). Ignored otherwise.
   */
  buildUser?: string;
}
