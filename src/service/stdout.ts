/**
 * The service writes its few frames (header, queued, or a whole error response) straight
 * to descriptor 1 with synchronous writes: process.stdout is never created, so Node never
 * takes the descriptor over before it is handed to the daemon.
 */
import { writeSync } from 'node:fs';

export function writeAllSync(fd: number, buf: Buffer): void {
  let off = 0;
  let spins = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
      spins = 0;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' || ++spins > 10_000) throw err;
      // a non-blocking descriptor that is full: wait a little for the reader
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}
