import type { Readable } from 'node:stream';
import { DaemonError } from './errors.js';

/**
 * Yields a stream's chunks, failing with REQUEST_STALLED when nothing arrives for
 * `idleMs`: a caller killed mid-transfer may leave the stream open without EOF, and must
 * not hold the builder forever.
 */
export async function* withIdleTimeout(stream: Readable, idleMs: number): AsyncGenerator<Buffer> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DaemonError('REQUEST_STALLED', `the request stalled: no data for ${Math.round(idleMs / 1000)} s`)),
        idleMs,
      );
    });
    try {
      const r = await Promise.race([it.next(), timeout]);
      if (r.done) return;
      yield r.value;
    } catch (err) {
      stream.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}
