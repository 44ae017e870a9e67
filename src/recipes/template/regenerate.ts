/**
 * A whole regeneration on this machine: phase 1 (fetch the pinned .debs into a
 * source directory) then phase 2 (the engine builds it without network). The
 * result carries the sha256 of the root tarball and of the ext4 image.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { defaultSpecFor, runBuild, type BuildEvent, type BuildOutcome, type EngineMode } from '../../engine/index.js';
import { fetchTemplateSources, type FetchResult } from './fetch.js';
import type { TemplateLock } from './lock.js';
import { ARTIFACTS } from './script.js';

export interface RegenerateOptions {
  /** result directory of the build (artifacts/root.tar, artifacts/root.img, manifest.json, build.log) */
  outDir: string;
  /** scratch directory for the sources and apt's state (kept only with keepWork) */
  workDir: string;
  cacheDir?: string;
  /** 'plain' is the control: mmdebstrap without the engine and without SOURCE_DATE_EPOCH */
  mode?: EngineMode;
  timeoutMs?: number;
  keepWork?: boolean;
  onEvent?: (e: BuildEvent) => void;
  log?: (message: string) => void;
  signal?: AbortSignal;
}

export interface RegenerateResult {
  fetch: FetchResult;
  build: BuildOutcome;
  /** sha256 of root.tar and root.img when the build succeeded */
  tarballSha256: string | null;
  imageSha256: string | null;
  imageBytes: number | null;
}

/** Sizes of what the build may write: a full template is a few GiB. */
const LIMITS = { maxOutputBytes: 32 * 1024 ** 3, maxOutputFiles: 100 };

export async function regenerateTemplate(lock: TemplateLock, opts: RegenerateOptions): Promise<RegenerateResult> {
  const sourceDir = path.join(opts.workDir, 'src');
  await mkdir(opts.workDir, { recursive: true });
  try {
    const fetched = await fetchTemplateSources(lock, {
      sourceDir,
      workDir: opts.workDir,
      ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
      ...(opts.log ? { log: opts.log } : {}),
    });
    const { spec } = await defaultSpecFor(sourceDir, {
      mode: opts.mode ?? 'deterministic',
      limits: { ...LIMITS, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) },
    });
    const build = await runBuild(spec, {
      outDir: opts.outDir,
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const art = (name: string) => build.manifest?.artifacts.find((a) => a.path === name) ?? null;
    return {
      fetch: fetched,
      build,
      tarballSha256: art(ARTIFACTS.tarball)?.sha256 ?? null,
      imageSha256: art(ARTIFACTS.image)?.sha256 ?? null,
      imageBytes: art(ARTIFACTS.image)?.size ?? null,
    };
  } finally {
    if (!opts.keepWork) await rm(sourceDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
