import { ProtocolError } from './errors.js';

/** Longest relative path accepted from the other side, in bytes. */
export const MAX_PATH_BYTES = 4096;
/** Deepest directory nesting accepted from the other side. */
export const MAX_PATH_DEPTH = 128;

/**
 * Checks a '/'-separated relative path received from another qube and returns its
 * components. Refuses absolute paths, '..', '.', empty components, NUL and control
 * characters, backslashes, over-long and over-deep paths: such a path could only be an
 * attempt to write outside the destination.
 */
export function safeRelativePath(path: string, what = 'path'): string[] {
  const fail = (why: string): never => {
    throw new ProtocolError('PROTOCOL_PATH', `${what} ${JSON.stringify(path.slice(0, 200))} refused: ${why}`);
  };
  if (typeof path !== 'string' || path === '') fail('empty');
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) fail(`longer than ${MAX_PATH_BYTES} bytes`);
  if (path.startsWith('/')) fail('absolute path');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) fail('control character in path');
  if (path.includes('\\')) fail('backslash in path');
  const parts = path.replace(/\/+$/, '').split('/');
  if (parts.length > MAX_PATH_DEPTH) fail(`deeper than ${MAX_PATH_DEPTH} levels`);
  for (const p of parts) {
    if (p === '') fail('empty path component');
    if (p === '..') fail("'..' component (path traversal)");
    if (p === '.') fail("'.' component");
  }
  return parts;
}
