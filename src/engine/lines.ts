/**
 * Splitting a build's output into log lines. Output without newlines (`cat /dev/zero`)
 * must cost neither memory nor time: a line longer than MAX_LINE is cut into pieces of
 * MAX_LINE, so at most one piece is ever held, and every byte is looked at once.
 * Characters split between two chunks are decoded whole (StringDecoder).
 */
import { StringDecoder } from 'node:string_decoder';

/** Longest log line kept whole, in UTF-16 code units (64 Ki); longer lines become several. */
export const MAX_LINE = 64 * 1024;

export interface LineSplitter {
  push(chunk: Buffer): void;
  /** flushes a trailing partial line */
  end(): void;
}

export function lineSplitter(onLine: (line: string) => void, maxLine = MAX_LINE): LineSplitter {
  const decoder = new StringDecoder('utf8');
  let parts: string[] = [];
  let held = 0;
  const flush = (): void => {
    const line = parts.length === 1 ? parts[0]! : parts.join('');
    parts = [];
    held = 0;
    onLine(line);
  };
  const take = (text: string): void => {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      const end = nl === -1 ? text.length : nl;
      let s = start;
      while (end - s > maxLine - held) {
        let cut = s + (maxLine - held);
        // never between the two halves of a surrogate pair (unless a piece could hold nothing else)
        if (isHighSurrogate(text.charCodeAt(cut - 1)) && (cut - 1 > s || held > 0)) cut--;
        if (cut > s) parts.push(text.slice(s, cut));
        flush();
        s = cut;
      }
      if (end > s) {
        parts.push(text.slice(s, end));
        held += end - s;
      }
      if (nl === -1) return;
      flush();
      start = nl + 1;
    }
  };
  return {
    push(chunk) {
      take(decoder.write(chunk));
    },
    end() {
      take(decoder.end());
      if (held > 0) flush();
    },
  };
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}
