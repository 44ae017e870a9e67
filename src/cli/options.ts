/**
 * The options every command that runs a build locally shares (`detbuild build`,
 * `detbuild deb`): their table, and turning their values into the engine's
 * choices (epoch, seed, time step, time limit, mode).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './exit-codes.js';

export const ENGINE_OPTIONS = {
  out: { type: 'string', short: 'o' },
  epoch: { type: 'string' },
  seed: { type: 'string' },
  'time-step': { type: 'string' },
  timeout: { type: 'string' },
  plain: { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

type OptionsTable = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends OptionsTable> = ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; strict: true; options: O }>>;

/** parseArgs with positionals, strict, its errors as usage errors. */
export function parseCommandLine<O extends OptionsTable>(argv: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function parseNumber(name: string, value: string | undefined, opts: { integer: boolean }): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n) || (opts.integer && !Number.isSafeInteger(n))) {
    throw new UsageError(`--${name}: expected a non-negative ${opts.integer ? 'integer' : 'number'}, got '${value}'`);
  }
  return n;
}

export interface EngineChoices {
  epoch?: number;
  seed?: string;
  timeStepNs?: bigint;
  limits?: { timeoutMs: number };
  mode: 'plain' | 'deterministic';
}

/** The engine's choices from the shared options' values; bad values are usage errors. */
export function engineChoices(values: {
  epoch?: string;
  seed?: string;
  'time-step'?: string;
  timeout?: string;
  plain?: boolean;
}): EngineChoices {
  const epoch = parseNumber('epoch', values.epoch, { integer: true });
  const stepS = parseNumber('time-step', values['time-step'], { integer: false });
  const timeoutS = parseNumber('timeout', values.timeout, { integer: false });
  if (values.seed !== undefined && !/^[0-9a-f]{16,128}$/.test(values.seed)) {
    throw new UsageError('--seed: expected 16 to 128 lowercase hex digits');
  }
  if (stepS !== undefined && stepS <= 0) throw new UsageError('--time-step must be more than 0');
  return {
    ...(epoch !== undefined ? { epoch } : {}),
    ...(values.seed !== undefined ? { seed: values.seed } : {}),
    ...(stepS !== undefined ? { timeStepNs: BigInt(Math.round(stepS * 1e9)) } : {}),
    ...(timeoutS !== undefined ? { limits: { timeoutMs: Math.max(1, Math.round(timeoutS * 1000)) } } : {}),
    mode: values.plain ? 'plain' : 'deterministic',
  };
}

/** --jobs N: how many builds of a batch run at once (several inputs only). */
export const JOBS_OPTION = { jobs: { type: 'string', short: 'j' } } as const;

export function parseJobs(value: string | undefined, fallback: number, inputs: number): number {
  if (value !== undefined && !/^[1-9][0-9]{0,3}$/.test(value)) throw new UsageError(`--jobs: expected a positive integer, got '${value}'`);
  if (value !== undefined && inputs < 2) throw new UsageError('--jobs belongs to several inputs');
  return value === undefined ? fallback : Number(value);
}
