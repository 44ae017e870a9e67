/**
 * A result directory appears complete or not at all. OUT_DIR must be absent or empty; the
 * result is assembled in a sibling (OUT_DIR.partial-PID-TIME) and renamed into place last;
 * after a failure nothing is at OUT_DIR and the log is kept beside it (OUT_DIR.failed.log).
 * One way for the engine's build, verify's two runs, a rebuild and the client's download.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EngineError, SpecError } from './errors.js';
import { normaliseTree } from './modes.js';
import { moveTree } from './move-tree.js';
import type { Manifest } from './types.js';

/** Throws (bad input) unless outDir is absent or an empty directory: a result never mixes with other files. */
export async function assertOutDirUsable(outDir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await fs.readdir(outDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new SpecError('OUT_NOT_DIRECTORY', `the output path exists and is not a directory: ${outDir}`);
    throw new SpecError('OUT_UNUSABLE', `cannot use the output directory ${outDir} (${code})`, { cause: err });
  }
  if (entries.length > 0) throw new SpecError('OUT_NOT_EMPTY', `the output directory exists and is not empty: ${outDir}`);
}

/** Where a failed build's log is kept. */
export function failedLogPath(outDir: string): string {
  return `${outDir}.failed.log`;
}

/** A fresh staging sibling of outDir (made here), to be filled and then committed or dropped. */
export async function makeStagingDir(outDir: string): Promise<string> {
  const staging = `${outDir}.partial-${process.pid}-${Date.now()}`;
  await fs.mkdir(staging, { recursive: true });
  return staging;
}

/** Renames a complete staging directory into place (over an empty outDir). */
export async function commitStagingDir(staging: string, outDir: string): Promise<void> {
  await fs.rmdir(outDir).catch(() => undefined);
  await fs.rename(staging, outDir);
}

export async function dropStagingDir(staging: string): Promise<void> {
  await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
}

/** Stages, fills and commits a result; on any failure nothing is left and the error is rethrown. */
export async function publishResult(outDir: string, fill: (staging: string) => Promise<void>): Promise<void> {
  const staging = await makeStagingDir(outDir);
  try {
    await fill(staging);
    await commitStagingDir(staging, outDir);
  } catch (err) {
    await dropStagingDir(staging);
    throw err;
  }
}

/**
 * A build's result directory: artifacts/ (modes as the wire carries them, owned by the
 * caller again if another user built them), manifest.json, build.log, and what the caller
 * adds before it is renamed into place (beforePublish).
 */
export async function publishBuild(
  outDir: string,
  build: { out: string; logPath: string; manifest: Manifest; owner?: { uid: number; gid: number } },
  beforePublish?: (stagingDir: string, manifest: Manifest) => Promise<void>,
): Promise<void> {
  try {
    await publishResult(outDir, async (staging) => {
      await normaliseTree(build.out, build.owner);
      await moveTree(build.out, path.join(staging, 'artifacts'));
      await fs.writeFile(path.join(staging, 'manifest.json'), `${JSON.stringify(build.manifest, null, 2)}\n`);
      await fs.copyFile(build.logPath, path.join(staging, 'build.log'));
      await beforePublish?.(staging, build.manifest);
    });
  } catch (err) {
    throw new EngineError('PUBLISH_FAILED', `cannot write the results to ${outDir}`, { cause: err });
  }
}
