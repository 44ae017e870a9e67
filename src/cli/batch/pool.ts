/**
 * Runs `count` tasks with at most `jobs` at once. Each worker slot (0..jobs-1) takes the
 * next task when its previous one ends; a task that fails does not stop the others; once
 * `signal` is aborted no further task starts (the running ones see the same signal).
 */
export type Slotted<R> = { started: true; value: R } | { started: false };

export async function runBounded<R>(count: number, jobs: number, signal: AbortSignal, task: (index: number, slot: number) => Promise<R>): Promise<Array<Slotted<R>>> {
  const results: Array<Slotted<R>> = Array.from({ length: count }, () => ({ started: false }));
  let next = 0;
  const worker = async (slot: number): Promise<void> => {
    while (!signal.aborted && next < count) {
      const i = next++;
      results[i] = { started: true, value: await task(i, slot) };
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, count)) }, (_, slot) => worker(slot)));
  return results;
}
