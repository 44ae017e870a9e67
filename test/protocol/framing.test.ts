/** The wire format: frames survive any chunking; every malformation is a typed error. */
import { describe, expect, it } from 'vitest';
import { FrameType, REQUEST_FRAMES, RESPONSE_FRAMES, MAX_FRAME_PAYLOAD } from '../../src/protocol/constants.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { FinalStatusSchema, RecipeSchema } from '../../src/protocol/messages.js';
import { safeRelativePath } from '../../src/protocol/paths.js';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readAhead } from '../../src/protocol/read-ahead.js';
import { FrameReader, parseJsonFrame } from '../../src/protocol/reader.js';
import { ExitCode } from '../../src/protocol/status.js';
import { encodeFrame, encodeFrameHeader, encodeJsonFrame, encodeStreamHeader } from '../../src/protocol/writer.js';

function chunked(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

async function readAll(chunks: Buffer[], kind: 'request' | 'response' = 'response') {
  const r = new FrameReader(chunks, { allowed: kind === 'request' ? REQUEST_FRAMES : RESPONSE_FRAMES });
  await r.readStreamHeader(kind);
  const frames = [];
  for (;;) {
    const f = await r.next();
    if (!f) return frames;
    frames.push(f);
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return (err as ProtocolError).code;
  }
  throw new Error('expected a ProtocolError');
}

const stream = Buffer.concat([
  encodeStreamHeader('response'),
  encodeJsonFrame(FrameType.event, { kind: 'log', stream: 'stdout', line: 'hi' }),
  encodeFrame(FrameType.data, Buffer.alloc(70_000, 7)),
  encodeFrame(FrameType.data, Buffer.alloc(0)),
  encodeJsonFrame(FrameType.status, { status: 'success', ok: true, message: 'ok', exitCode: 0, build: null }),
]);

describe('frame reader', () => {
  it.each([1, 3, 5, 12, 4096, 1 << 20])('reads the same frames from %i-byte chunks', async (size) => {
    const frames = await readAll(chunked(stream, size));
    expect(frames.map((f) => f.type)).toEqual([FrameType.event, FrameType.data, FrameType.data, FrameType.status]);
    expect(frames[1]!.payload.equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect(frames[2]!.payload.length).toBe(0);
  });

  it.each([
    ['an empty stream', Buffer.alloc(0), 'PROTOCOL_TRUNCATED'],
    ['a cut header', stream.subarray(0, 7), 'PROTOCOL_TRUNCATED'],
    ['bad magic', Buffer.concat([Buffer.from('NOTDETBD'), stream.subarray(8)]), 'PROTOCOL_MAGIC'],
    ['another version', Buffer.concat([encodeStreamHeader('response', 2), stream.subarray(12)]), 'PROTOCOL_VERSION'],
    ['a request where a response belongs', Buffer.concat([encodeStreamHeader('request'), stream.subarray(12)]), 'PROTOCOL_KIND'],
  ])('refuses %s', async (_what, buf, code) => {
    expect(await codeOf(readAll([buf]))).toBe(code);
  });

  it('tells a stream cut inside a frame from a clean end', async () => {
    for (const cut of [13, 16, 17, 40, stream.length - 1]) {
      expect(await codeOf(readAll([stream.subarray(0, cut)]))).toBe('PROTOCOL_TRUNCATED');
    }
    // cut exactly between frames: a clean end for the reader (the client then misses its status)
    const between = stream.length - encodeJsonFrame(FrameType.status, { status: 'success', ok: true, message: 'ok', exitCode: 0, build: null }).length;
    expect((await readAll([stream.subarray(0, between)])).length).toBe(3);
  });

  it('refuses unknown and wrong-direction frame types, and oversized frames before reading them', async () => {
    const h = encodeStreamHeader('response');
    expect(await codeOf(readAll([Buffer.concat([h, encodeFrame(0x55, Buffer.from('x'))])]))).toBe('PROTOCOL_FRAME_TYPE');
    expect(await codeOf(readAll([Buffer.concat([h, encodeFrame(FrameType.recipe, Buffer.from('{}'))])]))).toBe('PROTOCOL_FRAME_TYPE');
    const huge = Buffer.concat([h, Buffer.from([FrameType.data]), Buffer.from([0xff, 0xff, 0xff, 0xff])]);
    expect(await codeOf(readAll([huge]))).toBe('PROTOCOL_FRAME_SIZE');
    expect(() => encodeFrameHeader(FrameType.data, MAX_FRAME_PAYLOAD + 1)).toThrow(ProtocolError);
  });

  it('refuses data after the final frame', async () => {
    const r = new FrameReader([Buffer.concat([stream, Buffer.from('x')])], { allowed: RESPONSE_FRAMES });
    await r.readStreamHeader('response');
    for (let i = 0; i < 4; i++) await r.next();
    expect(await codeOf(r.expectEnd())).toBe('PROTOCOL_TRAILING');
  });
});

describe('data frames read piece by piece', () => {
  /** every frame through nextHeader: data frames by payloadTo, the others whole */
  async function readStreamed(chunks: AsyncIterable<Buffer> | Buffer[]) {
    const r = new FrameReader(chunks, { allowed: RESPONSE_FRAMES });
    await r.readStreamHeader('response');
    const out: Array<{ type: number; bytes: Buffer; pieces: number }> = [];
    for (;;) {
      const h = await r.nextHeader();
      if (!h) return out;
      if (h.type !== FrameType.data) {
        out.push({ type: h.type, bytes: await r.payload(h), pieces: 1 });
        continue;
      }
      const pieces: Buffer[] = [];
      await r.payloadTo(h, (p) => {
        pieces.push(p);
      });
      out.push({ type: h.type, bytes: Buffer.concat(pieces), pieces: pieces.length });
    }
  }

  it.each([1, 5, 4096, 1 << 20])('gives the same bytes from %i-byte chunks, in the pieces they came in', async (size) => {
    const frames = await readStreamed(chunked(stream, size));
    expect(frames.map((f) => f.type)).toEqual([FrameType.event, FrameType.data, FrameType.data, FrameType.status]);
    expect(frames[1]!.bytes.equals(Buffer.alloc(70_000, 7))).toBe(true);
    // no reassembly: a 70 000-byte payload in 4096-byte chunks arrives as ~18 pieces
    if (size === 4096) expect(frames[1]!.pieces).toBeGreaterThan(15);
    expect(frames[2]!.bytes.length).toBe(0);
  });

  it('tells a stream cut inside a data frame, with how much of it arrived', async () => {
    const dataAt = 12 + encodeJsonFrame(FrameType.event, { kind: 'log', stream: 'stdout', line: 'hi' }).length;
    const err = await readStreamed([stream.subarray(0, dataAt + 5 + 1000)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('PROTOCOL_TRUNCATED');
    expect((err as Error).message).toContain('data frame (1000 of 70000 bytes)');
  });

  it('reads ahead of a slow consumer over a real pipe, bounded, the bytes intact', async () => {
    // 12 MiB of frames through cat, read with a read-ahead limit of 2 MiB
    const payload = Buffer.alloc(1 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const body = Buffer.concat([encodeStreamHeader('response'), ...Array.from({ length: 12 }, () => encodeFrame(FrameType.data, payload))]);
    const child = spawn('cat', [], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdin.end(body);
    const source = readAhead(child.stdout, 2 * 1024 * 1024);
    const frames = await readStreamed(source);
    expect(frames.length).toBe(12);
    const got = createHash('sha256');
    const want = createHash('sha256');
    for (const f of frames) got.update(f.bytes);
    for (let i = 0; i < 12; i++) want.update(payload);
    expect(got.digest('hex')).toBe(want.digest('hex'));
  });
});

describe('JSON frames', () => {
  const frame = (v: string) => ({ type: FrameType.recipe, payload: Buffer.from(v) });
  it('accepts a recipe and an empty one (every field has a default)', () => {
    expect(parseJsonFrame(frame('{"command":"make","epoch":1700000000,"seed":"0123456789abcdef","timeStepNs":1000,"limits":{"timeoutMs":5000}}'), RecipeSchema).command).toBe('make');
    expect(parseJsonFrame(frame('{}'), RecipeSchema)).toEqual({});
  });
  it.each([
    ['malformed JSON', '{"command":', 'PROTOCOL_JSON', /malformed JSON/],
    ['an unknown field', '{"command":"make","evil":1}', 'PROTOCOL_SCHEMA', /unknown field 'evil'/],
    ['an unknown nested field', '{"limits":{"cpu":1}}', 'PROTOCOL_SCHEMA', /limits: unknown field 'cpu'/],
    ['a wrong type', '{"epoch":"yesterday"}', 'PROTOCOL_SCHEMA', /epoch/],
    ['a bad seed', '{"seed":"XYZ"}', 'PROTOCOL_SCHEMA', /seed/],
    ['a bad variable name', '{"env":{"A=B":"x"}}', 'PROTOCOL_SCHEMA', /env/],
    ['a non-object', '[1,2]', 'PROTOCOL_SCHEMA', /object/],
  ])('refuses %s with a message naming it', (_what, text, code, message) => {
    let err: unknown;
    try {
      parseJsonFrame(frame(text), RecipeSchema);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe(code);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toMatch(/^recipe frame: /);
  });
  it('allows ok only together with success', () => {
    expect(FinalStatusSchema.safeParse({ status: 'failed', ok: true, message: '', exitCode: 4, build: null }).success).toBe(false);
    expect(FinalStatusSchema.safeParse({ status: 'success', ok: true, message: '', exitCode: 0, build: null }).success).toBe(true);
  });
});

describe('paths from another qube', () => {
  it.each(['a', 'a/b/c.txt', 'dir/', '.hidden', 'a..b', '...'])('accepts %s', (p) => {
    expect(() => safeRelativePath(p)).not.toThrow();
  });
  it.each(['', '/etc/passwd', '../x', 'a/../../x', 'a/./b', 'a//b', 'a\\b', 'a\u0000b', 'a\nb', `${'d/'.repeat(200)}f`, 'x'.repeat(5000)])(
    'refuses %j',
    (p) => {
      expect(() => safeRelativePath(p)).toThrow(ProtocolError);
    },
  );
});

describe('exit codes', () => {
  it('never use the codes qrexec reserves (125-127), and are distinct', () => {
    const codes = Object.values(ExitCode);
    for (const c of codes) expect(c).toBeLessThan(125);
    expect(new Set(codes).size).toBe(codes.length);
  });
});
