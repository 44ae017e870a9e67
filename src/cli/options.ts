/**
 * The options every command that runs a build locally shares (`detbuild build`,
 * `detbuild deb`, `detbuild verify`): their table (which the help text is made
 * from), and turning their values into the engine's choices (epoch, seed, time
 * step, time limit, mode).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT, UsageError } from './exit-codes.js';
import { SEED_RULE, isSeed } from '../seed.js';

/** `arg` names an option's value and `help` says what it does: both only for the help text (parseArgs ignores them). */
export const HELP_OPTION = {
  help: { type: 'boolean', short: 'h', help: 'print this help and exit' },
} as const;

export const ENGINE_OPTIONS = {
  out: { type: 'string', short: 'o', arg: 'OUT_DIR', help: 'the result directory; must not exist, or be empty' },
  epoch: { type: 'string', arg: 'SECONDS', help: 'SOURCE_DATE_EPOCH and the start of the clock (default: from the sources, docs/USAGE.md)' },
  seed: { type: 'string', arg: 'HEX', help: 'seed of every random stream, 16-128 hex digits (default: from the source hash)' },
  'time-step': { type: 'string', arg: 'SECONDS', help: 'how far the wall clock advances per read (default 1)' },
  timeout: { type: 'string', arg: 'SECONDS', help: 'kill the build after this long (default 2 hours)' },
  plain: { type: 'boolean', help: 'no engine: the same sandbox with the real clock, randomness and environment (the control)' },
  json: { type: 'boolean', help: 'print the result as JSON on stdout' },
  quiet: { type: 'boolean', short: 'q', help: 'no live log on stderr' },
} as const;

export const COMMAND_OPTION = {
  command: { type: 'string', short: 'c', arg: 'CMD', help: "the build command, run with sh -c (default: detbuild.json's command, else make)" },
} as const;

type OptionsTable = NonNullable<ParseArgsConfig['options']>;
type Described = { type: 'string' | 'boolean'; short?: string; arg?: string; help?: string };

/** A command's help: its usage, what it does, and one line per option of its table. */
export function helpText(usage: string, summary: string, table: Record<string, Described>): string {
  const rows = Object.entries(table).map(([name, o]) => [`${o.short ? `-${o.short}, ` : '    '}--${name}${o.arg ? ` ${o.arg}` : ''}`, o.help ?? ''] as const);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return `${usage}\n\n${summary}\n\noptions:\n${rows.map(([l, h]) => `  ${l.padEnd(width)}${h}`).join('\n')}`;
}
type Parsed<O extends OptionsTable> = ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; strict: true; options: O }>>;

/** parseArgs with positionals, strict, its errors as usage errors. */
export function parseCommandLine<O extends OptionsTable>(argv: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** A command's argv parsed by its table; null when --help asked for HELP, which is printed. */
export function commandLine<O extends OptionsTable>(argv: string[], options: O, help: string): Parsed<O> | null {
  const parsed = parseCommandLine(argv, options);
  if (!(parsed.values as { help?: boolean }).help) return parsed;
  process.stdout.write(`${help}\n`);
  return null;
}

/** A required option's value, else a usage error naming it (`--out OUT_DIR is required`). */
export function required(value: string | undefined, what: string, usage: string): string {
  if (value === undefined || value === '') throw new UsageError(`${what} is required\n${usage}`);
  return value;
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
  if (values.seed !== undefined && !isSeed(values.seed)) {
    throw new UsageError(`--seed: expected ${SEED_RULE}`);
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
export const JOBS_OPTION = { jobs: { type: 'string', short: 'j', arg: 'N', help: 'several inputs: how many build at once (default: the CPUs this process may use)' } } as const;

export function parseJobs(value: string | undefined, fallback: number, inputs: number): number {
  if (value !== undefined && !/^[1-9][0-9]{0,3}$/.test(value)) throw new UsageError(`--jobs: expected a positive integer, got '${value}'`);
  if (value !== undefined && inputs < 2) throw new UsageError('--jobs belongs to several inputs');
  return value === undefined ? fallback : Number(value);
}
