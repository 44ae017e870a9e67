/**
 * The client's result directory, laid out like a local `detbuild build` result plus the
 * environment record: artifacts/, manifest.json, build.log, record.json, and the record
 * rendered as a Debian .buildinfo and an in-toto (SLSA provenance) statement. It is
 * assembled in a staging sibling and renamed into place only after a complete success.
 */
import { createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { Manifest } from '../engine/types.js';
import type { VerifyReport } from '../protocol/messages.js';
import { writeRecordFiles } from '../record/files.js';
import type { EnvironmentRecord } from '../record/schema.js';
import { commitStagingDir, dropStagingDir, failedLogPath, makeStagingDir } from '../engine/publish.js';

export { assertOutDirUsable } from '../engine/publish.js';

export interface Staging {
  dir: string;
  artifacts: string;
  /** the build log, written in order as the events arrive */
  log: WriteStream;
}

function closeLog(log: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (log.closed) return resolve();
    log.once('close', () => resolve());
    log.once('error', () => resolve());
    log.end();
  });
}

export async function makeStaging(outDir: string): Promise<Staging> {
  const dir = await makeStagingDir(outDir);
  await fs.mkdir(path.join(dir, 'artifacts'), { mode: 0o755 });
  const log = createWriteStream(path.join(dir, 'build.log'));
  return { dir, artifacts: path.join(dir, 'artifacts'), log };
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/** Writes the metadata files and renames the staging directory to outDir. */
export async function publish(staging: Staging, outDir: string, manifest: Manifest, record: EnvironmentRecord | null, verify: VerifyReport | null): Promise<void> {
  await closeLog(staging.log);
  await fs.writeFile(path.join(staging.dir, 'manifest.json'), json(manifest));
  if (record) await writeRecordFiles(staging.dir, record, manifest);
  if (verify) await fs.writeFile(path.join(staging.dir, 'verify.json'), json(verify));
  await commitStagingDir(staging.dir, outDir);
}

/**
 * After a failure: nothing at outDir; the log is kept at OUT_DIR.failed.log and a verify
 * report (with diffoscope's text) at OUT_DIR.verify.json. Returns the log's path.
 */
export async function discard(staging: Staging, outDir: string, verify: VerifyReport | null): Promise<string | null> {
  await closeLog(staging.log);
  const failedLog = failedLogPath(outDir);
  let kept: string | null = null;
  try {
    await fs.rename(path.join(staging.dir, 'build.log'), failedLog);
    kept = failedLog;
  } catch {
    kept = null;
  }
  if (verify) await fs.writeFile(`${outDir}.verify.json`, json(verify));
  await dropStagingDir(staging.dir);
  return kept;
}
