import type { Writable } from 'node:stream';
import {
  FRAME_HEADER_SIZE,
  MAGIC,
  MAX_FRAME_PAYLOAD,
  PROTOCOL_VERSION,
  STREAM_HEADER_SIZE,
  StreamKind,
  type StreamKindName,
} from './constants.js';
import { ProtocolError } from './errors.js';

export function encodeStreamHeader(kind: StreamKindName, version = PROTOCOL_VERSION): Buffer {
  const b = Buffer.alloc(STREAM_HEADER_SIZE);
  MAGIC.copy(b, 0);
  b.writeUInt16BE(version, 8);
  b.writeUInt8(StreamKind[kind], 10);
  b.writeUInt8(0, 11);
  return b;
}

export function encodeFrameHeader(type: number, length: number): Buffer {
  if (length > MAX_FRAME_PAYLOAD) {
    throw new ProtocolError('PROTOCOL_FRAME_SIZE', `frame of ${length} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
  }
  const b = Buffer.alloc(FRAME_HEADER_SIZE);
  b.writeUInt8(type, 0);
  b.writeUInt32BE(length, 1);
  return b;
}

/** One whole frame as a single buffer (for small frames and tests). */
export function encodeFrame(type: number, payload: Buffer | string): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([encodeFrameHeader(type, p.length), p]);
}

export function encodeJsonFrame(type: number, value: unknown): Buffer {
  return encodeFrame(type, JSON.stringify(value));
}

/**
 * Writes frames to a stream with backpressure: each write resolves once the stream can
 * take more, so a slow reader slows the writer instead of growing its memory.
 */
export class FrameWriter {
  /** bytes handed to the stream so far */
  bytesWritten = 0;

  /**
   * @param maxBuffered bytes the stream may hold unsent before a write waits for 'drain':
   *   a few chunks in flight keep the pipe busy while the next chunk is read
   * @param stallTimeoutMs the longest a write (or end) waits for the reader to take what is
   *   buffered; past it the write fails with PROTOCOL_STALLED. A reader that stops reading
   *   but keeps its end open would otherwise hold the writer forever.
   */
  constructor(
    private readonly out: Writable,
    private readonly maxBuffered = 4 * 1024 * 1024,
    private readonly stallTimeoutMs?: number,
  ) {}

  streamHeader(kind: StreamKindName): Promise<void> {
    return this.raw(encodeStreamHeader(kind));
  }

  frame(type: number, payload: Buffer): Promise<void> {
    return this.raw(encodeFrameHeader(type, payload.length), payload);
  }

  json(type: number, value: unknown): Promise<void> {
    return this.frame(type, Buffer.from(JSON.stringify(value), 'utf8'));
  }

  /**
   * Queues a frame without waiting for the reader (for live log lines, which the caller
   * cannot wait on). Returns false, writing nothing, while more than `maxBacklog` bytes
   * are still unsent: the caller drops the frame and says so later.
   */
  frameNoWait(type: number, payload: Buffer, maxBacklog: number): boolean {
    const out = this.out;
    if (out.destroyed || out.writableEnded || out.writableLength > maxBacklog) return false;
    out.write(encodeFrameHeader(type, payload.length));
    out.write(payload);
    this.bytesWritten += FRAME_HEADER_SIZE + payload.length;
    return true;
  }

  /** Writes buffers as they are (already framed). */
  async raw(...bufs: Buffer[]): Promise<void> {
    const out = this.out;
    if (out.destroyed || out.writableEnded) {
      throw new ProtocolError('PROTOCOL_CLOSED', 'the stream was closed by the other side');
    }
    let ok = true;
    for (const b of bufs) {
      if (b.length === 0) continue;
      ok = out.write(b);
      this.bytesWritten += b.length;
    }
    if (!ok && out.writableLength > this.maxBuffered) await waitDrain(out, this.stallTimeoutMs);
  }

  /** Ends the stream and resolves when everything was flushed. */
  end(): Promise<void> {
    const out = this.out;
    return new Promise((resolve, reject) => {
      if (out.writableFinished) return resolve();
      const onError = (err: Error) => {
        cleanup();
        reject(new ProtocolError('PROTOCOL_CLOSED', 'the stream failed while finishing', { cause: err }));
      };
      const onFinish = () => {
        cleanup();
        resolve();
      };
      const timer = stallTimer(this.stallTimeoutMs, () => {
        cleanup();
        reject(stalled(this.stallTimeoutMs!));
      });
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        out.off('error', onError);
        out.off('finish', onFinish);
      };
      out.once('error', onError);
      out.once('finish', onFinish);
      out.end();
    });
  }
}

function stalled(ms: number): ProtocolError {
  return new ProtocolError('PROTOCOL_STALLED', `the reader stopped reading: ${Math.round(ms / 1000)} s without taking what was written`);
}

function stallTimer(ms: number | undefined, onStall: () => void): NodeJS.Timeout | null {
  return ms === undefined ? null : setTimeout(onStall, ms);
}

function waitDrain(out: Writable, stallTimeoutMs?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = stallTimer(stallTimeoutMs, () => {
      cleanup();
      reject(stalled(stallTimeoutMs!));
    });
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new ProtocolError('PROTOCOL_CLOSED', 'the stream failed while writing', { cause: err }));
    };
    const onClose = () => {
      cleanup();
      reject(new ProtocolError('PROTOCOL_CLOSED', 'the stream was closed by the other side'));
    };
    out.once('drain', onDrain);
    out.once('error', onError);
    out.once('close', onClose);
  });
}
