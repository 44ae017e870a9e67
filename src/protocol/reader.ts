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

/** A frame whose payload is read piece by piece (FrameReader.nextHeader, then payloadChunks). */
export interface FrameHeader {
  type: number;
  length: number;
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
  private readonly batch: QueuedSource | null;

  constructor(
    source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
    private readonly opts: FrameReaderOptions,
  ) {
    this.it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : fromSync(source);
    this.batch = isQueued(source) ? source : null;
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
    const h = await this.nextHeader();
    if (!h) return null;
    return { type: h.type, payload: await this.payload(h) };
  }

  /**
   * The next frame's header (checked), or null at a clean end of stream; its payload
   * must then be read with payloadChunks(), before anything else.
   */
  async nextHeader(): Promise<FrameHeader | null> {
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
    this.take(FRAME_HEADER_SIZE);
    return { type, length };
  }

  /**
   * Hands the payload of the frame whose header nextHeader() returned to `sink` in the
   * pieces it arrived in (no copy into one buffer): for data frames, which go straight to
   * a hash and a file. A sink that returns a promise (a full file stream) is awaited.
   */
  async payloadTo(h: FrameHeader, sink: (piece: Buffer) => void | Promise<void>): Promise<void> {
    let left = h.length;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.fill(1))) this.truncated(h, h.length - left);
      const n = Math.min(this.chunks[0]!.length, left);
      left -= n;
      const wait = sink(this.take(n));
      if (wait) await wait;
    }
  }

  /** The whole payload of the frame whose header nextHeader() returned, in one buffer. */
  async payload(h: FrameHeader): Promise<Buffer> {
    if (!(await this.fill(h.length))) this.truncated(h, this.buffered);
    return this.take(h.length);
  }

  private truncated(h: FrameHeader, got: number): never {
    throw new ProtocolError(
      'PROTOCOL_TRUNCATED',
      `the stream was truncated inside a ${frameTypeName(h.type) ?? 'frame'} frame (${got} of ${h.length} bytes)`,
    );
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
      // a read-ahead source hands over what it holds at once (one await per batch, not per chunk)
      const ready = this.batch?.takeQueued();
      if (ready?.length) {
        for (const chunk of ready) {
          this.chunks.push(chunk);
          this.buffered += chunk.length;
        }
        continue;
      }
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

/** A source that can hand over the chunks it already holds without waiting (read-ahead.ts). */
export interface QueuedSource {
  takeQueued(): Buffer[];
}

function isQueued(source: unknown): source is QueuedSource {
  return typeof (source as Partial<QueuedSource>).takeQueued === 'function';
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
