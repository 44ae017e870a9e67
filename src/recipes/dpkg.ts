/**
 * The dpkg recipe: a Debian source package (.dsc and the files it lists, as
 * `apt-get source --download-only` leaves them) -> a BuildSpec that unpacks
 * it with `dpkg-source -x` and builds it with `dpkg-buildpackage -us -uc -b`
 * inside the sandbox, so the unpacking is under the engine too.  Artifacts:
 * the .debs (and .udebs), the .buildinfo and the .changes; the log is the
 * result's build.log.
 *
 * Build dependencies are the builder's installed packages: checked before the
 * build with dpkg-checkbuilddeps, an unmet one is a MissingBuildDepsError.
 * The sandbox shows /usr and /etc of the host and, like every build, the
 * state of installed packages that lives under /var/lib, read-only
 * (src/engine/toolchain-state.ts): the dpkg database (dpkg-checkbuilddeps,
 * dpkg-shlibdeps and dpkg-genbuildinfo read it), ghc's package database,
 * TeX's formats, the XML and SGML catalogs.
 *
 * Rules-Requires-Root: binary-targets (the default) runs `fakeroot
 * debian/rules binary`, as dpkg-buildpackage does when not root.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { dir as tmpDir } from 'tmp-promise';
import type { Logger } from 'winston';
import { DEFAULT_LIMITS, validateSpec, type BuildLimits, type BuildSpec, type EngineMode } from '../engine/index.js';
import { hashTree, walkTree } from '../engine/sources.js';
import { MIN_EPOCH } from '../engine/source-date.js';
import { MissingBuildDepsError, RecipeError } from './errors.js';
import { findOnPath } from '../host-tools.js';
import { readDsc, verifyDscFiles, type Dsc } from './dsc.js';
import { shellQuote } from './shell.js';
import { stagingRoot } from './staging.js';

/**
 * The wall clock's step per read in a Debian package's build: 1 ms, not the
 * engine's 1 s.  A package's test suite runs inside the build and may compare
 * clock readings of several processes: bibtool's key_format test reads the
 * minute in perl, runs bibtool five times and expects the fifth to print the
 * same minute.  At 1 s per read the clock moved 7 s per bibtool run (33 s over
 * the five) and the test failed (exit 2); advancing the wall clock 1 s per exec
 * instead (1 us per read) still moved it 10 s, failing for one start second in
 * six; at 1 ms the five runs move it 35 ms, and the test fails as rarely as on a
 * real machine.  Time still passes with every read, and a sleep still lets the
 * clock advance by its length.  --time-step overrides it.
 */
export const DPKG_TIME_STEP_NS = 1_000_000n;

export interface DpkgChoices {
  mode?: EngineMode;
  /** default: the date of the newest debian/changelog entry (what dpkg-buildpackage uses) */
  epoch?: number;
  /** default: the first 32 hex digits of the hash of the .dsc and its files */
  seed?: string;
  timeStepNs?: bigint;
  limits?: Partial<BuildLimits>;
  /** add `nocheck` to DEB_BUILD_OPTIONS (skip the package's test suite) */
  nocheck?: boolean;
  /** the .changes and .buildinfo also list the .dsc and its files as given (see dpkgCommand) */
  withSource?: boolean;
  /** run dpkg-checkbuilddeps first (default true) */
  checkBuildDeps?: boolean;
  /** stage the source package here (must not exist; the caller removes it) instead of a temporary directory */
  stageDir?: string;
  logger?: Logger;
}

export interface DpkgBuild {
  spec: BuildSpec;
  /** sha256 over the staged .dsc and its files (the seed's origin) */
  sourceHash: string;
  dsc: Dsc;
  /** removes the staged sources; call it after runBuild */
  cleanup(): Promise<void>;
}

async function requireTool(tool: string): Promise<void> {
  if ((await findOnPath(tool)) === null) {
    throw new RecipeError('DPKG_TOOL_MISSING', `${tool} is not installed on the builder (apt-get install dpkg-dev fakeroot)`, { kind: 'failure' });
  }
}

/**
 * The environment of the dpkg tools the recipe runs on the host (unpacking to inspect, the
 * changelog's date, the build-dependency check): PATH and a fixed locale, nothing else of the
 * caller's, as the sandbox gets nothing of it. A caller's LD_PRELOAD (libfaketime: its
 * utimensat fails dpkg-source on quilt patches with EINVAL) or DEB_BUILD_PROFILES (another
 * set of build dependencies than the build's) must not reach them.
 */
const HOST_TOOL_ENV = { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8' }, extendEnv: false } as const;

function tail(text: string, lines = 5): string {
  return text.trim().split('\n').slice(-lines).join(' / ');
}

/** Splits dpkg-checkbuilddeps' list (`a (>= 1) b | c [amd64]`) into its dependencies. */
export function splitDependencies(list: string): string[] {
  const one = String.raw`[^\s|()\[\]<>]+(?:\s*\([^)]*\))?(?:\s*\[[^\]]*\])?(?:\s*<[^>]*>)*`;
  const re = new RegExp(`${one}(?:\\s*\\|\\s*${one})*`, 'g');
  return [...list.matchAll(re)].map((m) => m[0].replace(/\s+/g, ' ').trim());
}

/** Runs dpkg-checkbuilddeps in an unpacked source tree; throws MissingBuildDepsError naming what is unmet. */
export async function checkBuildDeps(unpacked: string, source: string): Promise<void> {
  const r = await execa('dpkg-checkbuilddeps', [], { cwd: unpacked, reject: false, ...HOST_TOOL_ENV });
  if (r.exitCode === 0) return;
  const text = `${r.stdout}\n${r.stderr}`;
  const unmet = /Unmet build dependencies:\s*(.*)$/m.exec(text);
  const conflicts = /Build conflicts:\s*(.*)$/m.exec(text);
  if (!unmet && !conflicts) {
    throw new RecipeError('BUILD_DEPS_CHECK_FAILED', `dpkg-checkbuilddeps failed for ${source}: ${tail(text)}`, { kind: 'failure' });
  }
  throw new MissingBuildDepsError(source, unmet ? splitDependencies(unmet[1]!) : [], conflicts ? splitDependencies(conflicts[1]!) : []);
}

/**
 * The sandbox command: unpack, build, copy the results to $DETBUILD_OUT.
 *
 * withSource: after the binary build, the .buildinfo and the .changes are made again for
 * a full upload (`--build=full -sa`, what qubes-builderv2's pbuilder builds give to its
 * sign and publish stages). dpkg-genbuildinfo and dpkg-genchanges read the .dsc and the
 * files it names from the parent directory, where the given source package lies, so they
 * list those files as they were sent: the source package is not rebuilt.
 */
export function dpkgCommand(dsc: Dsc, opts: { nocheck?: boolean; withSource?: boolean } = {}): string {
  const dir = `${dsc.source}-${dsc.upstreamVersion}`;
  return [
    'set -e',
    // the sandbox's user namespace maps only the build user: a real chown to
    // root fails with EINVAL, which fakeroot does not ignore (only EPERM);
    // fakeroot records the ownership either way
    'export FAKEROOTDONTTRYCHOWN=1',
    ...(opts.nocheck ? ['DEB_BUILD_OPTIONS="nocheck${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}"; export DEB_BUILD_OPTIONS'] : []),
    `dpkg-source --no-check -x ${shellQuote(path.basename(dsc.path))} ${shellQuote(dir)}`,
    `cd ${shellQuote(dir)}`,
    'dpkg-buildpackage -us -uc -b',
    ...(opts.withSource
      ? [
          'changes="$(dpkg-parsechangelog -SSource)_$(dpkg-parsechangelog -SVersion | sed "s/^[0-9]*://")_$(dpkg-architecture -qDEB_HOST_ARCH).changes"',
          'dpkg-genbuildinfo --build=full',
          'dpkg-genchanges --build=full -sa -O"../$changes"',
        ]
      : []),
    'cd ..',
    'for f in *.deb *.udeb *.ddeb *.buildinfo *.changes; do if [ -e "$f" ]; then cp -- "$f" "$DETBUILD_OUT/"; fi; done',
  ].join('\n');
}

async function unpack(dsc: Dsc, into: string): Promise<void> {
  const r = await execa('dpkg-source', ['--no-check', '-x', dsc.path, into], { reject: false, ...HOST_TOOL_ENV });
  if (r.exitCode !== 0) {
    throw new RecipeError('DSC_UNPACK_FAILED', `dpkg-source -x ${path.basename(dsc.path)} failed: ${tail(`${r.stdout}\n${r.stderr}`)}`);
  }
}

/**
 * What the recipe reads of a source package before building it, debian/changelog (the
 * epoch) and debian/control (the build dependencies), into `into`. A "3.0 (quilt)"
 * package carries both in its debian tarball: only those two members are taken from the
 * staged copy, where a whole `dpkg-source -x` (done again inside the sandbox) took
 * 170 ms of xa's 6 s build. Any other format, or a debian tarball in which they are not
 * two regular files, is unpacked whole as before.
 */
async function unpackControl(dsc: Dsc, stage: string, into: string): Promise<'debian tarball' | 'whole package'> {
  const debianTar = dsc.format.trim() === '3.0 (quilt)' ? dsc.files.find((f) => /\.debian\.tar\.(?:gz|xz|bz2|lzma)$/.test(f.name)) : undefined;
  if (debianTar) {
    await fs.mkdir(into);
    const wanted = ['debian/changelog', 'debian/control'];
    const r = await execa('tar', ['-x', '--no-same-owner', '--no-same-permissions', '-f', path.join(stage, debianTar.name), '-C', into, '--', ...wanted], { reject: false, ...HOST_TOOL_ENV });
    const regular = await Promise.all(wanted.map((w) => fs.lstat(path.join(into, w)).then((st) => st.isFile(), () => false)));
    if (r.exitCode === 0 && regular.every(Boolean)) return 'debian tarball';
    await fs.rm(into, { recursive: true, force: true });
  }
  await unpack(dsc, into);
  return 'whole package';
}

async function changelogTimestamp(unpacked: string): Promise<number> {
  const r = await execa('dpkg-parsechangelog', ['-STimestamp'], { cwd: unpacked, reject: false, ...HOST_TOOL_ENV });
  const t = Number(r.stdout.trim());
  if (r.exitCode !== 0 || !Number.isSafeInteger(t)) {
    throw new RecipeError('DSC_NO_CHANGELOG', `cannot read the date of debian/changelog: ${tail(r.stderr || r.stdout)}`);
  }
  return Math.max(t, MIN_EPOCH);
}

/** Copies the .dsc and its files into `stage` (created) and returns their hash: the build's source hash. */
async function stageSourcePackage(dsc: Dsc, stage: string): Promise<string> {
  await fs.mkdir(stage);
  for (const name of [path.basename(dsc.path), ...dsc.files.map((f) => f.name)]) {
    await fs.copyFile(path.join(path.dirname(dsc.path), name), path.join(stage, name));
  }
  return hashTree(stage, await walkTree(stage));
}

/**
 * The source hash a build of this .dsc records (what prepareDpkgBuild stages), without
 * unpacking it or checking build dependencies: what a rebuilder compares before sending
 * the package to another builder.
 */
export async function sourcePackageHash(dscPath: string): Promise<string> {
  const dsc = await readDsc(dscPath);
  await verifyDscFiles(dsc);
  const tmp = await tmpDir({ prefix: 'detbuild-dsc-hash-', unsafeCleanup: true });
  try {
    return await stageSourcePackage(dsc, path.join(tmp.path, 'src'));
  } finally {
    await tmp.cleanup().catch(() => undefined);
  }
}

/**
 * Checks a .dsc and what it needs, stages it, and returns the build spec.
 * Throws RecipeError (bad .dsc, missing files, unpack failure) or
 * MissingBuildDepsError before anything is built.
 */
export async function prepareDpkgBuild(dscPath: string, choices: DpkgChoices = {}): Promise<DpkgBuild> {
  const log = choices.logger;
  const dsc = await readDsc(dscPath);
  await verifyDscFiles(dsc);
  for (const tool of ['dpkg-source', 'dpkg-buildpackage', 'dpkg-checkbuilddeps', 'dpkg-parsechangelog']) await requireTool(tool);
  log?.info('dpkg recipe: source package checked', { source: dsc.source, version: dsc.version, files: dsc.files.length });

  const { root, cleanup } = await stagingRoot(choices.stageDir, 'detbuild-dpkg-');
  try {
    const stage = path.join(root, 'src');
    const sourceHash = await stageSourcePackage(dsc, stage);

    const inspect = path.join(root, 'inspect');
    const from = await unpackControl(dsc, stage, inspect);
    log?.info('dpkg recipe: debian/changelog and debian/control read', { source: dsc.source, from });
    // the two questions side by side; their answers are taken in a fixed order
    const [date, deps] = await Promise.allSettled([
      choices.epoch ?? changelogTimestamp(inspect),
      choices.checkBuildDeps !== false ? checkBuildDeps(inspect, dsc.source) : undefined,
    ]);
    if (date.status === 'rejected') throw date.reason;
    if (deps.status === 'rejected') throw deps.reason;
    const epoch = date.value;
    await fs.rm(inspect, { recursive: true, force: true });

    const spec: BuildSpec = {
      sourceDir: stage,
      command: dpkgCommand(dsc, { nocheck: choices.nocheck, withSource: choices.withSource }),
      epoch,
      seed: choices.seed ?? sourceHash.slice(0, 32),
      timeStepNs: choices.timeStepNs ?? DPKG_TIME_STEP_NS,
      env: {},
      limits: { ...DEFAULT_LIMITS, ...choices.limits },
      mode: choices.mode ?? 'deterministic',
      origin: { epochFrom: choices.epoch !== undefined ? 'option' : 'debian/changelog' },
    };
    validateSpec(spec);
    log?.info('dpkg recipe: spec ready', { source: dsc.source, epoch: spec.epoch, seed: spec.seed, mode: spec.mode });
    return { spec, sourceHash, dsc, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
