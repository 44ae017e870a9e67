/** One directory name per input (its base name, without .dsc), unique within a batch. */
import path from 'node:path';

export function batchNames(inputs: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return inputs.map((input) => {
    const base = path.basename(path.resolve(input)).replace(/\.dsc$/, '') || 'build';
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  });
}
