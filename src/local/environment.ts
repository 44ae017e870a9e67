/** This machine's environment, collected once per process: its packages do not change during a run. */
import { collectEnvironment } from '../record/collect.js';
import type { Environment } from '../record/schema.js';

let cached: Promise<Environment> | null = null;

export function localEnvironment(): Promise<Environment> {
  cached ??= collectEnvironment().catch((err: unknown) => {
    cached = null;
    throw err;
  });
  return cached;
}
