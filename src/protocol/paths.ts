import { pathParts, pathProblem } from '../portable-path.js';
import { ProtocolError } from './errors.js';

export { MAX_PATH_BYTES, MAX_PATH_DEPTH } from '../portable-path.js';

/**
 * Checks a '/'-separated relative path received from another qube and returns its
 * components. Refuses absolute paths, '..', '.', empty components, NUL and control
 * characters, backslashes, over-long and over-deep paths (the rule is pathProblem's, shared
 * with the engine's artifacts): such a path could only be an attempt to write outside the
 * destination.
 */
export function safeRelativePath(path: string, what = 'path'): string[] {
  const problem = pathProblem(path);
  if (problem !== null) throw new ProtocolError('PROTOCOL_PATH', `${what} ${JSON.stringify(String(path).slice(0, 200))} refused: ${problem}`);
  return pathParts(path);
}
