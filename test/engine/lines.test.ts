/** The log line splitter: lines as written, long lines cut, characters never split, linear time. */
import { describe, expect, it } from 'vitest';
import { lineSplitter } from '../../src/engine/lines.js';

function split(chunks: Buffer[], max?: number): string[] {
  const lines: string[] = [];
  const s = lineSplitter((l) => lines.push(l), max);
  for (const c of chunks) s.push(c);
  s.end();
  return lines;
}

describe('lineSplitter', () => {
  it('splits at newlines, keeps empty lines, flushes a trailing partial line', () => {
    expect(split([Buffer.from('a\n\nb'), Buffer.from('c\nd')])).toEqual(['a', '', 'bc', 'd']);
    expect(split([Buffer.from('a\n')])).toEqual(['a']);
  });

  it('decodes a character split between chunks whole', () => {
    const b = Buffer.from('é✓😀\n');
    const chunks = [...b].map((byte) => Buffer.from([byte]));
    expect(split(chunks)).toEqual(['é✓😀']);
  });

  it('cuts a long line into pieces of the maximum, a line of exactly the maximum whole', () => {
    expect(split([Buffer.from('abcdefghij\nabcd\nab')], 4)).toEqual(['abcd', 'efgh', 'ij', 'abcd', 'ab']);
    expect(split([Buffer.from('a'), Buffer.from('bc'), Buffer.from('defg'), Buffer.from('h\n')], 4)).toEqual(['abcd', 'efgh']);
    // never between the halves of a surrogate pair
    expect(split([Buffer.from('abc😀d')], 4)).toEqual(['abc', '😀d']);
  });

  it('takes linear time on output without newlines', () => {
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const time = (mb: number) => {
      const t = process.hrtime.bigint();
      let n = 0;
      const s = lineSplitter(() => n++);
      for (let i = 0; i < mb * 16; i++) s.push(chunk);
      s.end();
      expect(n).toBe(mb * 16);
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    time(4);
    const [small, large] = [time(8), time(64)];
    console.info(`splitter: 8 MB ${small.toFixed(0)} ms, 64 MB ${large.toFixed(0)} ms`);
    // linear: 8x the bytes within 24x the time (quadratic would be 64x)
    expect(large).toBeLessThan(24 * small + 50);
  });
});
