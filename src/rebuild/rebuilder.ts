/**
 * Where a rebuild runs: this machine (src/rebuild/local.ts) or a builder qube
 * (src/client/rebuilder.ts). The rebuild itself (src/rebuild/rebuild.ts) only sees this.
 */
import type { Manifest } from '../engine/types.js';
import type { EnvironmentRecord } from '../record/schema.js';
import type { BuildDescription } from './statement.js';

export type RebuildEvent = { kind: 'stage'; stage: string; message: string } | { kind: 'log'; stream: 'stdout' | 'stderr'; line: string };

/** One result shape for every way a rebuild's build can end. */
export interface RebuildRun {
  ok: boolean;
  /** the build's status (the engine's, or the remote builder's / client's) */
  status: string;
  message: string;
  manifest: Manifest | null;
  /** the environment record published with the result */
  record: EnvironmentRecord | null;
  outDir: string | null;
  logPath: string | null;
}

export interface Rebuilder {
  /** for messages: "this machine", "qube builder" */
  readonly where: string;
  /** the builder's environment record (no build) */
  environment(signal?: AbortSignal): Promise<EnvironmentRecord>;
  /** builds what `build` describes from `sourcesDir` into `outDir` (a result directory with the record files) */
  build(build: BuildDescription, sourcesDir: string, outDir: string, opts: { signal?: AbortSignal; onEvent?: (e: RebuildEvent) => void }): Promise<RebuildRun>;
}
