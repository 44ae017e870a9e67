/** Writing a request: header, recipe, the sources as tar chunks, and the end frame. */
import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { CHUNK_SIZE, FrameType } from '../protocol/constants.js';
import { RecipeSchema, type Recipe } from '../protocol/messages.js';
import { FrameWriter } from '../protocol/writer.js';
import { packSources } from './sources.js';

export interface RequestProgress {
  (sentBytes: number): void;
}

/**
 * Writes a whole request for `sourceDir` to `out` (and ends it). `tarStream` replaces the
 * packed source directory (tests send hand-made archives this way).
 */
export async function writeRequest(
  out: Writable,
  recipe: Recipe,
  source: { sourceDir: string } | { tarStream: Readable },
  onProgress?: RequestProgress,
): Promise<{ tarBytes: number; tarSha256: string }> {
  const writer = new FrameWriter(out);
  await writer.streamHeader('request');
  await writer.json(FrameType.recipe, RecipeSchema.parse(recipe));
  const hash = createHash('sha256');
  let tarBytes = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await writer.frame(FrameType.sourceChunk, chunk);
    onProgress?.(tarBytes);
  };
  const tarStream = 'tarStream' in source ? source.tarStream : packSources(source.sourceDir);
  for await (const c of tarStream as AsyncIterable<Buffer>) {
    hash.update(c);
    tarBytes += c.length;
    pending.push(c);
    pendingBytes += c.length;
    if (pendingBytes >= CHUNK_SIZE) await flush();
  }
  await flush();
  const end = { tarBytes, tarSha256: hash.digest('hex') };
  await writer.json(FrameType.requestEnd, end);
  await writer.end();
  return end;
}
