/**
 * Sends a finished build's results: manifest, environment record, then every artifact
 * (header, then its bytes in data frames, read from disk chunk by chunk so memory does
 * not grow with the artifact), checking each one's size against the manifest.
 */
import { constants as FS, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { isExecutable } from '../engine/modes.js';
import type { ArtifactEntry, Manifest } from '../engine/types.js';
import { CHUNK_SIZE, FrameType } from '../protocol/constants.js';
import type { ArtifactHeader } from '../protocol/messages.js';
import { safeRelativePath } from '../protocol/paths.js';
import type { FrameWriter } from '../protocol/writer.js';
import type { EnvironmentRecord } from '../record/schema.js';
import { describeError } from '../errors.js';
import { DaemonError } from './errors.js';

export async function sendResults(writer: FrameWriter, artifactsDir: string, manifest: Manifest, record: EnvironmentRecord): Promise<void> {
  await writer.json(FrameType.manifest, manifest);
  await writer.json(FrameType.record, record);
  for (const a of manifest.artifacts) await sendArtifact(writer, artifactsDir, a);
}

async function sendArtifact(writer: FrameWriter, dir: string, a: ArtifactEntry): Promise<void> {
  let parts: string[];
  try {
    parts = safeRelativePath(a.path, 'artifact');
  } catch (err) {
    // the engine publishes no such name; if one came through, it is the builder's fault, not the request's
    throw new DaemonError('DAEMON_ARTIFACT_NAME', `cannot send the artifact: ${describeError(err)}`, { cause: err });
  }
  const file = join(dir, ...parts);
  const st = await fs.lstat(file);
  if (st.isSymbolicLink()) {
    const target = await fs.readlink(file);
    const header: ArtifactHeader = { path: a.path, size: 0, sha256: a.sha256, executable: false, symlink: target };
    await writer.json(FrameType.artifact, header);
    return;
  }
  const fh = await fs.open(file, FS.O_RDONLY | FS.O_NOFOLLOW);
  try {
    const fst = await fh.stat();
    if (!fst.isFile() || fst.size !== a.size) {
      throw new DaemonError('DAEMON_ARTIFACT_CHANGED', `artifact ${a.path} changed after the build (size ${fst.size}, manifest ${a.size})`);
    }
    const header: ArtifactHeader = { path: a.path, size: a.size, sha256: a.sha256, executable: isExecutable(fst.mode), symlink: null };
    await writer.json(FrameType.artifact, header);
    // no second hash here: the client checks every byte against the manifest, and the
    // engine hashed these very files; the size is checked, the descriptor is not a link
    let sent = 0;
    const stream = fh.createReadStream({ autoClose: false, highWaterMark: CHUNK_SIZE, start: 0 });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const piece = sent + chunk.length > a.size ? chunk.subarray(0, a.size - sent) : chunk;
      sent += piece.length;
      await writer.frame(FrameType.data, piece);
      if (sent >= a.size) break;
    }
    if (sent !== a.size) {
      throw new DaemonError('DAEMON_ARTIFACT_CHANGED', `artifact ${a.path} shrank after the build (${sent} of ${a.size} bytes)`);
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}
