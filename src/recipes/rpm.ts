/**
 * The rpm recipe: a source RPM (.src.rpm) -> a BuildSpec that rebuilds it with
 * `rpmbuild -ra` (binary packages and the source package again) inside the
 * sandbox, with the macros of rpm-macros.ts and SOURCE_DATE_EPOCH exported.
 * Artifacts: the binary .rpms, the rebuilt .src.rpm and a `.buildinfo` in
 * mock's rpmbuildinfo format (rpmbuildinfo.ts); the log is the result's
 * build.log.  The twin of the dpkg recipe (dpkg.ts).
 *
 * Before anything runs: the .src.rpm is checked (srpm.ts: lead, digests,
 * safe file names) and its BuildRequires against the builder (rpm-deps.ts);
 * rpmbuild itself then runs with --nodeps, as the check is done.
 * The epoch defaults to the newest %changelog date (what rpm's
 * source_date_epoch_from_changelog uses), else the source package's own
 * build time; the seed to the sha256 of the .src.rpm.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'winston';
import { DEFAULT_LIMITS, DEFAULT_TIME_STEP_NS, SANDBOX, validateSpec, type BuildLimits, type BuildSpec, type EngineMode } from '../engine/index.js';
import { MIN_EPOCH } from '../engine/source-date.js';
import { checkBuildRequires, type DepCheckOptions, type DepChecker } from './rpm-deps.js';
import { rpmDefinesScript } from './rpm-macros.js';
import { rpmbuildinfoScript } from './rpmbuildinfo.js';
import { shellQuote } from './shell.js';
import { readSrpm, srpmLabel, type Srpm } from './srpm.js';
import { stagingRoot } from './staging.js';

/** rpmbuild's %{_topdir} inside the sandbox. */
export const RPM_TOPDIR = `${SANDBOX.src}/rpmbuild`;

export interface RpmChoices {
  mode?: EngineMode;
  /** default: the newest %changelog date of the package, else its build time */
  epoch?: number;
  /** default: the first 32 hex digits of the .src.rpm's sha256 */
  seed?: string;
  timeStepNs?: bigint;
  limits?: Partial<BuildLimits>;
  /** rpmbuild --nocheck (skip %check) */
  nocheck?: boolean;
  /** check BuildRequires first (default true) */
  checkBuildDeps?: boolean;
  /** what BuildRequires are checked against (rpm-deps.ts) */
  deps?: DepCheckOptions;
  /** stage the package here (must not exist; the caller removes it) instead of a temporary directory */
  stageDir?: string;
  logger?: Logger;
}

export interface RpmBuild {
  spec: BuildSpec;
  /** sha256 of the .src.rpm (the seed's origin) */
  sourceHash: string;
  srpm: Srpm;
  /** what the BuildRequires were checked against (null when not checked) */
  checker: DepChecker | null;
  /** removes the staged package; call it after runBuild */
  cleanup(): Promise<void>;
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The newest %changelog date, else the package's build time; never before MIN_EPOCH. */
export function srpmEpoch(srpm: Srpm): number {
  const t = srpm.changelogTimes.length ? Math.max(...srpm.changelogTimes) : srpm.buildTime;
  return Math.max(t, MIN_EPOCH);
}

/** The sandbox command: rebuild, copy the packages to $DETBUILD_OUT, write the .buildinfo. */
export function rpmCommand(srpm: Srpm, epoch: number, opts: { nocheck?: boolean } = {}): string {
  return [
    'set -e',
    `export SOURCE_DATE_EPOCH=${epoch}`,
    `set -- --define ${shellQuote(`_topdir ${RPM_TOPDIR}`)}`,
    rpmDefinesScript(),
    `rpmbuild -ra --nodeps${opts.nocheck ? ' --nocheck' : ''} "$@" ${shellQuote(path.basename(srpm.path))}`,
    `for f in ${RPM_TOPDIR}/RPMS/*/*.rpm ${RPM_TOPDIR}/SRPMS/*.src.rpm; do cp -- "$f" "$DETBUILD_OUT/"; done`,
    rpmbuildinfoScript(RPM_TOPDIR),
  ].join('\n');
}

/**
 * Checks a .src.rpm and what it needs, stages it, and returns the build spec.
 * Throws RecipeError (bad package) or MissingBuildDepsError before anything
 * is built.
 */
export async function prepareRpmBuild(srpmPath: string, choices: RpmChoices = {}): Promise<RpmBuild> {
  const log = choices.logger;
  const srpm = await readSrpm(srpmPath);
  log?.info('rpm recipe: source package checked', { source: srpmLabel(srpm), files: srpm.files.length, buildRequires: srpm.requires.length });
  const checker = choices.checkBuildDeps === false ? null : await checkBuildRequires(srpm, choices.deps);
  if (checker) log?.info('rpm recipe: BuildRequires met', { against: checker.kind === 'rpmdb' ? `rpm database ${checker.dbPath ?? '(system)'}` : `dpkg with map ${checker.mapFile ?? '(none)'}` });

  const { root, cleanup } = await stagingRoot(choices.stageDir, 'detbuild-rpm-');
  try {
    const stage = path.join(root, 'src');
    await fs.mkdir(stage);
    const staged = path.join(stage, path.basename(srpm.path));
    await fs.copyFile(srpm.path, staged);
    const sourceHash = await sha256File(staged);
    const epoch = choices.epoch ?? srpmEpoch(srpm);
    const spec: BuildSpec = {
      sourceDir: stage,
      command: rpmCommand(srpm, epoch, { nocheck: choices.nocheck }),
      epoch,
      seed: choices.seed ?? sourceHash.slice(0, 32),
      timeStepNs: choices.timeStepNs ?? DEFAULT_TIME_STEP_NS,
      env: {},
      limits: { ...DEFAULT_LIMITS, ...choices.limits },
      mode: choices.mode ?? 'deterministic',
    };
    validateSpec(spec);
    log?.info('rpm recipe: spec ready', { source: srpmLabel(srpm), epoch: spec.epoch, seed: spec.seed, mode: spec.mode });
    return { spec, sourceHash, srpm, checker, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
