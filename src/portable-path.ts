/**
 * The one rule for relative paths that cross a boundary: source entries received from
 * another qube, artifacts a build leaves (published locally or sent over the wire). Each
 * side wraps a refusal in its own error (ProtocolError, EngineError).
 */

/** Longest relative path accepted, in bytes. */
export const MAX_PATH_BYTES = 4096;
/** Deepest directory nesting accepted. */
export const MAX_PATH_DEPTH = 128;

/**
 * Why a '/'-separated relative path is refused, or null when it is acceptable: absolute
 * paths, '..', '.', empty components, NUL and control characters (a newline would forge
 * lines of a listing), backslashes, paths longer than MAX_PATH_BYTES or deeper than
 * MAX_PATH_DEPTH.
 */
export function pathProblem(path: string): string | null {
  if (typeof path !== 'string' || path === '') return 'empty';
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) return `longer than ${MAX_PATH_BYTES} bytes`;
  if (path.startsWith('/')) return 'absolute path';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'control character in path';
  if (path.includes('\\')) return 'backslash in path';
  const parts = path.replace(/\/+$/, '').split('/');
  if (parts.length > MAX_PATH_DEPTH) return `deeper than ${MAX_PATH_DEPTH} levels`;
  for (const p of parts) {
    if (p === '') return 'empty path component';
    if (p === '..') return "'..' component (path traversal)";
    if (p === '.') return "'.' component";
  }
  return null;
}

/** The components of an acceptable path (pathProblem returned null). */
export function pathParts(path: string): string[] {
  return path.replace(/\/+$/, '').split('/');
}
