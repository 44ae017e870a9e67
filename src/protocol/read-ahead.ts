import type { Readable } from 'node:stream';
import type { QueuedSource } from './reader.js';

/**
 * A readable stream read ahead of its consumer: chunks are queued as they arrive and the
 * stream is paused only while `maxQueued` bytes wait, so that the sender keeps sending
 * while the consumer hashes and writes. Node's own async iteration pauses a socket or pipe
 * at its 16 KiB high-water mark, which turns a transfer into a ping-pong of small pieces
 * between two event loops. Memory stays bounded by `maxQueued` plus one chunk.
 */
export function readAhead(stream: Readable, maxQueued = 8 * 1024 * 1024): AsyncIterable<Buffer> & QueuedSource {
  const queue: Buffer[] = [];
  let head = 0;
  let queued = 0;
  let ended = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  stream.on('data', (c: Buffer | string) => {
    const chunk = typeof c === 'string' ? Buffer.from(c) : c;
    queue.push(chunk);
    queued += chunk.length;
    if (queued > maxQueued) stream.pause();
    notify();
  });
  stream.once('end', () => {
    ended = true;
    notify();
  });
  stream.once('error', (err: Error) => {
    failure = err;
    notify();
  });
  stream.once('close', () => {
    if (!ended && !failure) failure = Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    notify();
  });
  const resumeIfLow = (): void => {
    if (stream.isPaused() && queued <= maxQueued / 2) stream.resume();
  };
  return {
    takeQueued(): Buffer[] {
      if (head >= queue.length) return [];
      const out = queue.slice(head);
      queue.length = 0;
      head = 0;
      queued = 0;
      resumeIfLow();
      return out;
    },
    [Symbol.asyncIterator](): AsyncIterator<Buffer> {
      return {
        async next(): Promise<IteratorResult<Buffer>> {
          for (;;) {
            if (head < queue.length) {
              const chunk = queue[head]!;
              queue[head++] = undefined as unknown as Buffer;
              if (head > 1024 && head * 2 > queue.length) {
                queue.splice(0, head);
                head = 0;
              }
              queued -= chunk.length;
              resumeIfLow();
              return { value: chunk, done: false };
            }
            if (failure) throw failure;
            if (ended) return { value: undefined, done: true };
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          }
        },
      };
    },
  };
}
