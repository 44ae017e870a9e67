/**
 * A source tree with an RPM spec, as Qubes components keep them
 * (`rpm_spec/NAME.spec.in` or `.spec`), made into a .src.rpm under the
 * engine, then rebuilt by the rpm recipe (rpm.ts) like any .src.rpm.
 *
 * A `.spec.in` is rendered first, as the Qubes builder's generate-spec does
 * (supported placeholders, replaced as text, nothing else is touched):
 *   @VERSION@, @VERSION1@, ...  lines 1, 2, ... of SRC_DIR/version (required)
 *   @REL@, @REL1@, ...          lines of SRC_DIR/rel (a @REL@ without that file is refused)
 *   @BACKEND_VMM@               `xen` (Qubes' default backend)
 *   @CHANGELOG@                 one entry dated the build's epoch; the Qubes builder
 *                               writes the last 50 git commits there, which a source
 *                               tree does not carry
 * A `.spec` is used as it is.
 *
 * The .src.rpm is made in the sandbox (the spec's macros may run shell
 * commands): `rpmspec -P` names Source0; unless the tree has that file at its
 * top, it is made from the tree as the Qubes builder's create-archive makes
 * it (sorted, owner 0, modes go=rX, times the epoch, .git and pkgs left out,
 * everything under NAME-VERSION/); every top-level file of the tree is a
 * source too (as mock --sources gives them); then `rpmbuild -bs`.  A spec
 * that rpm cannot parse, or a source it cannot find, is bad input
 * (RPM_SPEC_UNPARSABLE, RPM_SPEC_SOURCE_MISSING).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DEFAULT_LIMITS, DEFAULT_TIME_STEP_NS, SANDBOX, validateSpec, type BuildResult, type BuildSpec } from '../engine/index.js';
import { hashTree, readProjectFile, walkTree } from '../engine/sources.js';
import { MIN_EPOCH, rpmChangelogDate, sourceDate } from '../engine/source-date.js';
import { RecipeError } from './errors.js';
import { prepareRpmBuild, RPM_TOPDIR, type RpmBuild, type RpmChoices } from './rpm.js';
import { rpmDefinesScript } from './rpm-macros.js';
import { shellQuote } from './shell.js';
import { stagingRoot } from './staging.js';

/** The first phase (making the .src.rpm) did not succeed for another reason than the spec. */
export class RpmSourceBuildError extends RecipeError {
  readonly result: BuildResult;
  constructor(message: string, result: BuildResult) {
    super('RPM_SRPM_BUILD_FAILED', message, { kind: 'failure' });
    this.result = result;
  }
}

export interface SpecPlaceholders {
  /** lines of `version` */
  versions: string[];
  /** lines of `rel`, null without the file */
  rels: string[] | null;
  backendVmm: string;
  /** the text that replaces @CHANGELOG@ */
  changelog: string;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Wed Nov 25 2026`: a %changelog date (UTC). */
export function changelogDate(epoch: number): string {
  const d = new Date(epoch * 1000);
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, '0')} ${d.getUTCFullYear()}`;
}

/** Replaces the placeholders the Qubes builder replaces (see the header); throws on @REL@ without `rel`. */
export function renderSpecTemplate(text: string, p: SpecPlaceholders, where: string): string {
  let out = text;
  p.versions.forEach((v, i) => {
    out = out.split(i === 0 ? '@VERSION@' : `@VERSION${i}@`).join(v);
  });
  if (p.rels) {
    p.rels.forEach((r, i) => {
      out = out.split(i === 0 ? '@REL@' : `@REL${i}@`).join(r);
    });
  } else if (out.includes('@REL@')) {
    throw new RecipeError('RPM_SPEC_NO_REL', `${where} uses @REL@, but the source tree has no 'rel' file`);
  }
  out = out.split('@BACKEND_VMM@').join(p.backendVmm);
  if (out.includes('@CHANGELOG@')) out = out.replace(/^.*@CHANGELOG@.*$/gm, p.changelog.replace(/\$/g, '$$$$'));
  return out;
}

async function readLines(file: string): Promise<string[] | null> {
  try {
    return (await fs.readFile(file, 'utf8')).split('\n').map((l) => l.trim()).filter(Boolean);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** SPEC relative to SRC_DIR, inside it, a regular file named *.spec or *.spec.in. */
async function resolveSpec(specArg: string, srcDir: string): Promise<{ abs: string; rel: string }> {
  const abs = path.resolve(srcDir, specArg);
  const rel = path.relative(srcDir, abs);
  if (rel.startsWith('..') || path.isAbsolute(rel) || !/^[A-Za-z0-9_][A-Za-z0-9._+-]*(\/[A-Za-z0-9_][A-Za-z0-9._+-]*)*\.spec(\.in)?$/.test(rel)) {
    throw new RecipeError('RPM_SPEC_PATH', `the spec must be a NAME.spec or NAME.spec.in inside SRC_DIR (a safe relative path), not ${JSON.stringify(specArg)}`);
  }
  let st;
  try {
    st = await fs.lstat(abs);
  } catch (err) {
    throw new RecipeError('RPM_SPEC_MISSING', `cannot read the spec ${abs}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  if (!st.isFile()) throw new RecipeError('RPM_SPEC_MISSING', `the spec is not a regular file: ${abs}`);
  return { abs, rel };
}

/** The sandbox command of the first phase: archive, `rpmbuild -bs`, the .src.rpm to $DETBUILD_OUT. */
export function srpmCommand(specName: string, epoch: number): string {
  const src = `${RPM_TOPDIR}/SOURCES`;
  return [
    'set -e',
    `export SOURCE_DATE_EPOCH=${epoch}`,
    `spec=${shellQuote(`${SANDBOX.src}/${specName}`)}`,
    `mkdir -p ${src}`,
    `find tree -maxdepth 1 -type f -exec cp -p {} ${src}/ \\;`,
    `set -- --define ${shellQuote(`_topdir ${RPM_TOPDIR}`)} --define ${shellQuote(`_sourcedir ${src}`)}`,
    rpmDefinesScript(),
    // Source0 (or Source), as rpm expands it; only its file name counts
    'src0=$(rpmspec -P "$@" "$spec" | sed -n "s/^[Ss][Oo][Uu][Rr][Cc][Ee]0*:[[:space:]]*//p" | head -n 1)',
    'src0=${src0##*/}',
    'if [ -n "$src0" ] && [ ! -e "tree/$src0" ]; then',
    '  case "$src0" in',
    "    *.tar.gz|*.tgz) z='gzip -n -9' ;;",
    "    *.tar.xz) z='xz -T1' ;;",
    "    *.tar.bz2) z='bzip2 -9' ;;",
    "    *.tar.zst) z='zstd -q -19 -T1' ;;",
    '    *.tar) z=cat ;;',
    '    *) echo "error: Source0 $src0 is not in the tree and is not an archive detbuild can make (.tar, .tar.gz, .tgz, .tar.xz, .tar.bz2, .tar.zst)" >&2; exit 3 ;;',
    '  esac',
    '  prefix=${src0%.tgz}; prefix=${prefix%.tar*}',
    '  echo "making $src0 from the tree (under $prefix/)"',
    `  tarball=${src}/.detbuild-source.tar`,
    '  (cd tree && find . \\( -path ./.git -o -path ./pkgs \\) -prune -o -print0 | LC_ALL=C sort -z |',
    '    tar --no-recursion --null -T - --mtime="@$SOURCE_DATE_EPOCH" --mode=go=rX --owner=0 --group=0 --numeric-owner \\',
    '      --xform "s%^\\.%$prefix%" -cf "$tarball")',
    `  $z < "$tarball" > "${src}/$src0"`,
    '  rm -f -- "$tarball"',
    'fi',
    'rpmbuild -bs --nodeps "$@" "$spec"',
    `cp -- ${RPM_TOPDIR}/SRPMS/*.src.rpm "$DETBUILD_OUT/"`,
  ].join('\n');
}

/** The first rpm error of a failed first phase's log, when rpm said why: the spec or a source is bad. */
async function specErrorOf(result: BuildResult, where: string): Promise<RecipeError | null> {
  let log = '';
  try {
    if (result.logPath) log = await fs.readFile(result.logPath, 'utf8');
  } catch {
    return null;
  }
  const m = /^error: (.*)$/m.exec(log);
  if (!m) return null;
  const text = m[1]!.trim();
  const code = /Bad source|No such file|not in the tree/i.test(text) ? 'RPM_SPEC_SOURCE_MISSING' : 'RPM_SPEC_UNPARSABLE';
  return new RecipeError(code, `${where}: ${text}`);
}

export interface SpecBuildOptions {
  /** where the first phase's log is kept when it fails (default: beside its temporary output) */
  failedLog?: string;
}

/**
 * Renders the spec, makes the .src.rpm under the engine with `run` (the
 * caller's runBuild, with its events and cancellation), then prepares its
 * rebuild with prepareRpmBuild (same choices; the same epoch).
 */
export async function prepareRpmSpecBuild(
  specArg: string,
  srcDir: string,
  choices: RpmChoices,
  run: (spec: BuildSpec, outDir: string) => Promise<BuildResult>,
  opts: SpecBuildOptions = {},
): Promise<RpmBuild> {
  const st = await fs.stat(srcDir).catch(() => null);
  if (!st?.isDirectory()) throw new RecipeError('RPM_SOURCE_DIR', `the source directory does not exist: ${srcDir}`);
  const { abs, rel } = await resolveSpec(specArg, srcDir);
  const template = await fs.readFile(abs, 'utf8');
  const specName = path.basename(rel).replace(/\.in$/, '');

  const entries = await walkTree(srcDir);
  const treeEpoch = async (): Promise<number> => (await sourceDate(srcDir, { project: (await readProjectFile(srcDir)).epoch })).epoch;
  let text = template;
  let epoch: number;
  if (rel.endsWith('.in')) {
    const versions = await readLines(path.join(srcDir, 'version'));
    if (!versions?.length) throw new RecipeError('RPM_SPEC_NO_VERSION', `${rel} is a template, but the source tree has no 'version' file for @VERSION@`);
    const rels = await readLines(path.join(srcDir, 'rel'));
    epoch = choices.epoch ?? (template.includes('@CHANGELOG@') ? await treeEpoch() : (rpmChangelogDate(template) ?? (await treeEpoch())));
    const changelog = `* ${changelogDate(epoch)} Qubes OS Team <qubes-devel@googlegroups.com> - ${versions[0]}\n- Built from a source tree by qubes-detbuild (the Qubes builder writes the git history here)`;
    text = renderSpecTemplate(template, { versions, rels, backendVmm: 'xen', changelog }, rel);
  } else {
    epoch = choices.epoch ?? rpmChangelogDate(template) ?? (await treeEpoch());
  }
  epoch = Math.max(epoch, MIN_EPOCH);

  const { root, cleanup: cleanupRoot } = await stagingRoot(choices.stageDir, 'detbuild-rpmspec-');
  try {
    const stage = path.join(root, 'src');
    await fs.mkdir(stage);
    const top = path.join(srcDir, '.git');
    await fs.cp(srcDir, path.join(stage, 'tree'), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, filter: (from) => from !== top });
    await fs.writeFile(path.join(stage, specName), text);
    const hash = await hashTree(stage, await walkTree(stage));
    const spec: BuildSpec = {
      sourceDir: stage,
      command: srpmCommand(specName, epoch),
      epoch,
      seed: choices.seed ?? hash.slice(0, 32),
      timeStepNs: choices.timeStepNs ?? DEFAULT_TIME_STEP_NS,
      env: {},
      limits: { ...DEFAULT_LIMITS, ...choices.limits },
      mode: choices.mode ?? 'deterministic',
    };
    validateSpec(spec);
    choices.logger?.info('rpm recipe: making the .src.rpm', { spec: rel, epoch, mode: spec.mode });

    const phaseOut = path.join(root, 'srpm-out');
    const result = await run(spec, phaseOut);
    if (!result.ok) {
      if (opts.failedLog && result.logPath) await fs.copyFile(result.logPath, opts.failedLog).catch(() => undefined);
      const bad = await specErrorOf(result, rel);
      if (bad) throw bad;
      throw new RpmSourceBuildError(`making the .src.rpm from ${rel} failed: ${result.message}${opts.failedLog ? ` (log: ${opts.failedLog})` : ''}`, result);
    }
    const made = (result.manifest?.artifacts ?? []).filter((a) => a.path.endsWith('.src.rpm'));
    if (made.length !== 1) throw new RpmSourceBuildError(`making the .src.rpm from ${rel} left ${made.length} source packages`, result);
    const rebuild = await prepareRpmBuild(path.join(phaseOut, 'artifacts', made[0]!.path), {
      ...choices,
      epoch,
      stageDir: path.join(root, 'rebuild'),
    });
    return {
      ...rebuild,
      cleanup: async () => {
        await rebuild.cleanup();
        await cleanupRoot();
      },
    };
  } catch (err) {
    await cleanupRoot();
    throw err;
  }
}
