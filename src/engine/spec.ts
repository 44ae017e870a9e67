/**
 * Building a complete BuildSpec from a source directory and what the caller
 * chose; every default is derived from the sources, so the same sources give
 * the same spec with no flags at all.
 */
import { promises as fs } from 'node:fs';
import type { BuildLimits, BuildSpec, EngineMode, SourceOrigin } from './types.js';
import { SpecError } from './errors.js';
import { OVERRIDABLE, fixedEnvironment } from './sandbox.js';
import { defaultSeed, hashTree, readProjectFile, walkTree } from './sources.js';
import { sourceDate } from './source-date.js';
import { SANDBOX_LIMIT_DEFAULTS } from './supervise/limits.js';
import { SEED_RULE, isSeed } from '../seed.js';

export const DEFAULT_LIMITS: BuildLimits = {
  timeoutMs: 2 * 60 * 60 * 1000,
  maxOutputBytes: 4 * 1024 ** 3,
  maxOutputFiles: 100_000,
  maxLogBytes: 64 * 1024 ** 2,
  ...SANDBOX_LIMIT_DEFAULTS,
};

export const DEFAULT_TIME_STEP_NS = 1_000_000_000n;

/** Top-level directories the sandbox lays out itself: a spec's hostDirs may not reach into them. */
const RESERVED_TOP = new Set(['usr', 'etc', 'proc', 'dev', 'sys', 'tmp', 'run', 'build', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']);

export interface SpecChoices {
  command?: string;
  epoch?: number;
  /** where `epoch` came from when the caller derived it from the sources (a client for a git work tree) */
  origin?: SourceOrigin;
  seed?: string;
  timeStepNs?: bigint;
  env?: Record<string, string>;
  limits?: Partial<BuildLimits>;
  mode?: EngineMode;
}

export interface ResolvedSpec {
  spec: BuildSpec;
  sourceHash: string;
}

export async function assertDirectory(dir: string, what: string): Promise<void> {
  let st;
  try {
    st = await fs.stat(dir);
  } catch (err) {
    throw new SpecError('SOURCE_MISSING', `${what} does not exist: ${dir}`, { cause: err });
  }
  if (!st.isDirectory()) throw new SpecError('SOURCE_NOT_DIRECTORY', `${what} is not a directory: ${dir}`);
}

export function validateSpec(spec: BuildSpec): void {
  if (!spec.command.trim()) throw new SpecError('SPEC_INVALID', 'the build command is empty');
  if (!Number.isSafeInteger(spec.epoch) || spec.epoch < 0) throw new SpecError('SPEC_INVALID', `epoch must be a non-negative integer of seconds, not ${spec.epoch}`);
  if (!isSeed(spec.seed)) throw new SpecError('SPEC_INVALID', `seed must be ${SEED_RULE}`);
  if (spec.timeStepNs <= 0n || spec.timeStepNs > 86_400n * 1_000_000_000n) throw new SpecError('SPEC_INVALID', 'time step must be more than 0 and at most one day');
  const fixed = fixedEnvironment(spec);
  for (const name of Object.keys(spec.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new SpecError('SPEC_INVALID', `not a valid environment variable name: ${name}`);
    if (name in fixed && !OVERRIDABLE.has(name)) throw new SpecError('SPEC_INVALID', `environment variable ${name} is fixed by the engine`);
  }
  for (const dir of spec.hostDirs ?? []) {
    const parts = dir.split('/');
    if (!/^[A-Za-z0-9][A-Za-z0-9._+-]*(\/[A-Za-z0-9][A-Za-z0-9._+-]*)*$/.test(dir) || parts.includes('..') || RESERVED_TOP.has(parts[0]!)) {
      throw new SpecError('SPEC_INVALID', `not a host directory a build may see: ${dir} (a path relative to /, outside ${[...RESERVED_TOP].join(', ')})`);
    }
  }
  const l = spec.limits;
  for (const [k, v] of Object.entries(l)) {
    if (v === undefined) continue; // a sandbox limit left to its default
    if (!Number.isSafeInteger(v) || v <= 0) throw new SpecError('SPEC_INVALID', `limit ${k} must be a positive integer`);
  }
}

/** Resolves every default from the sources (see docs/USAGE.md: "Defaults"). */
export async function defaultSpecFor(sourceDir: string, choices: SpecChoices = {}): Promise<ResolvedSpec> {
  await assertDirectory(sourceDir, 'source directory');
  const entries = await walkTree(sourceDir);
  const sourceHash = await hashTree(sourceDir, entries);
  const pf = await readProjectFile(sourceDir);
  const date = await sourceDate(sourceDir, { explicit: choices.epoch, project: pf.epoch });
  const spec: BuildSpec = {
    sourceDir,
    command: choices.command ?? pf.command ?? 'make',
    epoch: date.epoch,
    seed: choices.seed ?? defaultSeed(sourceHash, pf),
    timeStepNs: choices.timeStepNs ?? DEFAULT_TIME_STEP_NS,
    env: choices.env ?? {},
    limits: { ...DEFAULT_LIMITS, ...choices.limits },
    mode: choices.mode ?? 'deterministic',
    origin: choices.epoch !== undefined && choices.origin ? choices.origin : { epochFrom: date.from, ...(date.gitCommit ? { gitCommit: date.gitCommit } : {}) },
  };
  validateSpec(spec);
  return { spec, sourceHash };
}
