import type { Readable } from 'node:stream';
import { RequestError } from '../errors.js';

/** How long and how slowly a caller may take to hand over its request. */
export interface TransferLimits {
  /** nothing arrived for this long: a caller killed mid-transfer left the stream open */
  idleMs: number;
  /** the whole request took longer than this */
  deadlineMs: number;
  /** after `graceMs`, the request must have averaged at least this many bytes per second */
  minBytesPerSecond: number;
  graceMs: number;
}

/**
 * Yields a stream's chunks, failing with REQUEST_STALLED, REQUEST_TOO_SLOW or
 * REQUEST_DEADLINE when the caller breaks one of `limits`: a caller that drips a byte
 * at a time (never idle long enough to trip the idle timeout) must not hold the builder.
 *
 * The rate rule is a moving deadline: every byte received buys 1/minBytesPerSecond seconds
 * past the grace period, so a fast start does not excuse a stall later only as far as it
 * was ahead.
 */
export async function* withTransferLimits(stream: Readable, limits: TransferLimits): AsyncGenerator<Buffer> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const start = Date.now();
  let bytes = 0;
  let last = start;
  const failure = (now: number): RequestError | null => {
    if (now - start >= limits.deadlineMs) {
      return new RequestError('REQUEST_DEADLINE', `the request was not complete by its deadline of ${seconds(limits.deadlineMs)} s (${bytes} bytes received)`);
    }
    if (now - start >= rateDeadline()) {
      const rate = Math.round((bytes * 1000) / Math.max(1, now - start));
      return new RequestError('REQUEST_TOO_SLOW', `the request came too slowly: ${rate} bytes per second, below the builder's minimum of ${limits.minBytesPerSecond} bytes per second`);
    }
    if (now - last >= limits.idleMs) return new RequestError('REQUEST_STALLED', `the request stalled: no data for ${seconds(limits.idleMs)} s`);
    return null;
  };
  const rateDeadline = () => limits.graceMs + (bytes * 1000) / limits.minBytesPerSecond;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      const check = () => {
        const now = Date.now();
        const err = failure(now);
        if (err) return reject(err);
        const next = Math.min(start + limits.deadlineMs, start + rateDeadline(), last + limits.idleMs);
        timer = setTimeout(check, Math.max(1, Math.ceil(next - now)));
      };
      check();
    });
    try {
      const r = await Promise.race([it.next(), timeout]);
      if (r.done) return;
      bytes += r.value.length;
      last = Date.now();
      yield r.value;
    } catch (err) {
      stream.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1);
}
