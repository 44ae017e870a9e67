import type { z } from 'zod';
import {
  FRAME_HEADER_SIZE,
  MAGIC,
  MAX_FRAME_PAYLOAD,
  PROTOCOL_VERSION,
  STREAM_HEADER_SIZE,
  StreamKind,
  frameTypeName,
  type StreamKindName,
} from './constants.js';
import { ProtocolError } from './errors.js';

export interface Frame {
  type: number;
  payload: Buffer;
}

export interface FrameReaderOptions {
  /** frame types this direction may carry; any other is an error */
  allowed: ReadonlySet<number>;
  maxPayload?: number;
}

/**
 * Reads a framed stream chunk by chunk. `next()` returns null only at a clean end (the
 * source ended exactly between two frames); an end inside a frame or inside the stream
 * header is PROTOCOL_TRUNCATED.
 */
export class FrameReader {
  /** bytes consumed from the source so far */
  bytesRead = 0;
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private readonly it: AsyncIterator<Buffer | string>;
  private readonly maxPayload: number;

  constructor(
    source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
    private readonly opts: FrameReaderOptions,
  ) {
    this.it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : fromSync(source);
    this.maxPayload = opts.maxPayload ?? MAX_FRAME_PAYLOAD;
  }

  /** Reads and checks the stream header: magic, version, direction. */
  async readStreamHeader(kind: StreamKindName): Promise<void> {
    if (!(await this.fill(STREAM_HEADER_SIZE))) {
      if (this.buffered === 0) {
        throw new ProtocolError('PROTOCOL_TRUNCATED', 'the stream is empty (no header)');
      }
      throw new ProtocolError('PROTOCOL_TRUNCATED', 'the stream was truncated inside its header');
    }
    const h = this.take(STREAM_HEADER_SIZE);
    if (!h.subarray(0, 8).equals(MAGIC)) {
      throw new ProtocolError('PROTOCOL_MAGIC', 'not a qubes.DetBuild stream (bad magic)');
    }
    const version = h.readUInt16BE(8);
    if (version !== PROTOCOL_VERSION) {
      throw new ProtocolError(
        'PROTOCOL_VERSION',
        `wire format version ${version} is not supported (this side speaks version ${PROTOCOL_VERSION})`,
      );
    }
    if (h.readUInt8(10) !== StreamKind[kind]) {
      throw new ProtocolError('PROTOCOL_KIND', `expected a ${kind} stream`);
    }
  }

  /** The next frame, or null at a clean end of stream. */
  async next(): Promise<Frame | null> {
    if (!(await this.fill(FRAME_HEADER_SIZE))) {
      if (this.buffered === 0) return null;
      throw new ProtocolError('PROTOCOL_TRUNCATED', 'the stream was truncated inside a frame header');
    }
    const h = this.peek(FRAME_HEADER_SIZE);
    const type = h.readUInt8(0);
    const length = h.readUInt32BE(1);
    if (!this.opts.allowed.has(type)) {
      throw new ProtocolError(
        'PROTOCOL_FRAME_TYPE',
        `unexpected frame type 0x${type.toString(16).padStart(2, '0')}${frameTypeName(type) ? ` (${frameTypeName(type)})` : ''}`,
      );
    }
    if (length > this.maxPayload) {
      throw new ProtocolError('PROTOCOL_FRAME_SIZE', `frame of ${length} bytes exceeds the limit of ${this.maxPayload}`);
    }
    if (!(await this.fill(FRAME_HEADER_SIZE + length))) {
      throw new ProtocolError(
        'PROTOCOL_TRUNCATED',
        `the stream was truncated inside a ${frameTypeName(type) ?? 'frame'} frame (${this.buffered - FRAME_HEADER_SIZE} of ${length} bytes)`,
      );
    }
    this.take(FRAME_HEADER_SIZE);
    return { type, payload: this.take(length) };
  }

  /** Expects the end of the stream: anything after the final frame is an error. */
  async expectEnd(): Promise<void> {
    if (await this.fill(1)) {
      throw new ProtocolError('PROTOCOL_TRAILING', 'data after the final frame');
    }
  }

  /** Pulls chunks until n bytes are buffered; false when the source ended first. */
  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n) {
      if (this.ended) return false;
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        return false;
      }
      const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      if (chunk.length === 0) continue;
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    return true;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.chunks, n);
  }

  private take(n: number): Buffer {
    this.bytesRead += n;
    this.buffered -= n;
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    // spans chunks: copy once, drop the consumed chunks in one splice (no O(n^2) shifting)
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    let i = 0;
    while (off < n) {
      const c = this.chunks[i]!;
      const want = n - off;
      if (c.length <= want) {
        c.copy(out, off);
        off += c.length;
        i++;
      } else {
        c.copy(out, off, 0, want);
        this.chunks[i] = c.subarray(want);
        off += want;
      }
    }
    this.chunks.splice(0, i);
    return out;
  }
}

async function* fromSync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

/** Parses a JSON frame against its schema; the error names the frame and the first issue. */
export function parseJsonFrame<S extends z.ZodTypeAny>(frame: Frame, schema: S): z.infer<S> {
  const name = frameTypeName(frame.type) ?? 'unknown';
  let value: unknown;
  try {
    value = JSON.parse(frame.payload.toString('utf8'));
  } catch (err) {
    throw new ProtocolError('PROTOCOL_JSON', `${name} frame: malformed JSON`, { cause: err });
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    throw new ProtocolError('PROTOCOL_SCHEMA', `${name} frame: ${formatZodError(r.error)}`);
  }
  return r.data;
}

/** "limits.timeoutMs: Expected number, received string; unknown field 'foo'" */
export function formatZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => {
      if (i.code === 'unrecognized_keys') {
        const where = i.path.length ? `${i.path.join('.')}: ` : '';
        return `${where}unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')}`;
      }
      return `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`;
    })
    .join('; ');
}
