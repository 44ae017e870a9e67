/** `detbuild template lock|fetch|build`: argv in, recipe call, one-line errors out. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeError } from '../../errors.js';
import { readOsRelease } from '../../record/index.js';
import { exitCodeOfError, exitCodeOfResult } from '../../outcome.js';
import {
  TemplateError,
  defaultEpoch,
  fetchTemplateSources,
  lockArchives,
  lockPackages,
  makeLock,
  packagesFromRecordFile,
  readLock,
  regenerateTemplate,
  serializeLock,
} from '../../recipes/template/index.js';
import { cancellable } from '../cancel.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { eventPrinter, printFailure, printJson } from '../format.js';
import { ENGINE_OPTIONS, HELP_OPTION, commandLine, helpText, parseNumber } from '../options.js';

export const TEMPLATE_USAGE = `usage: detbuild template lock [-o LOCK] [--record FILE] [--all | --roots PKG,...] [--resolve PKG,...|essential]
                              [--archive 'URI [SUITE [COMPONENT...]]']... [--suite SUITE] [--components C,...] [--epoch SECONDS] [--image-size MIB]
       detbuild template fetch LOCK -o SRC_DIR [--cache DIR]
       detbuild template build LOCK -o OUT_DIR [--cache DIR] [--work DIR] [--plain] [--json] [--quiet]`;

const LOCK_OPTIONS = {
  out: { type: 'string', short: 'o', arg: 'LOCK', help: 'write the lock here (default: stdout)' },
  record: { type: 'string', arg: 'FILE', help: "a builder's environment record (detbuild info --json): lock its whole package set" },
  all: { type: 'boolean', help: "lock every package installed on this machine" },
  roots: { type: 'string', arg: 'PKG,...', help: "lock the closure of these packages of this machine (default: a builder's)" },
  resolve: { type: 'string', arg: 'PKG,...|essential', help: "lock the archive's current versions of these packages and their closure" },
  archive: { type: 'string', multiple: true, arg: "'URI [SUITE [COMPONENT...]]'", help: "an archive to fetch from, repeatable (default: this machine's apt source of SUITE)" },
  suite: { type: 'string', arg: 'SUITE', help: "the distribution's suite (default: the record's or this machine's codename)" },
  components: { type: 'string', arg: 'C,...', help: 'the components of archives that name none (default main)' },
  epoch: { type: 'string', arg: 'SECONDS', help: "the image's SOURCE_DATE_EPOCH (default: the snapshot archive's date, else today 00:00 UTC)" },
  'image-size': { type: 'string', arg: 'MIB', help: 'the size of root.img' },
  ...HELP_OPTION,
} as const;

const FETCH_OPTIONS = {
  out: { type: 'string', short: 'o', arg: 'SRC_DIR', help: 'the source directory to make: the lock, the build script and every pinned .deb' },
  cache: { type: 'string', arg: 'DIR', help: 'a cache of fetched .debs, kept between runs' },
  ...HELP_OPTION,
} as const;

const BUILD_OPTIONS = {
  out: { type: 'string', short: 'o', arg: 'OUT_DIR', help: 'the result: root.tar, root.img, manifest.json; must not exist, or be empty' },
  cache: FETCH_OPTIONS.cache,
  work: { type: 'string', arg: 'DIR', help: 'the scratch directory (default: a temporary one, removed afterwards)' },
  plain: ENGINE_OPTIONS.plain,
  json: ENGINE_OPTIONS.json,
  quiet: ENGINE_OPTIONS.quiet,
  ...HELP_OPTION,
} as const;

function list(v: string | undefined): string[] {
  return v !== undefined ? v.split(',').map((s) => s.trim()).filter(Boolean) : [];
}

function int(name: string, v: string | undefined): number | undefined {
  return parseNumber(name, v, { integer: true });
}

async function lockCommand(argv: string[]): Promise<number> {
  const parsed = commandLine(argv, LOCK_OPTIONS, helpText(TEMPLATE_USAGE, "Locks a builder's package set: exact versions, archives and epoch (docs/TEMPLATE.md).", LOCK_OPTIONS));
  if (!parsed) return EXIT.ok;
  const { values, positionals } = parsed;
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'\n${TEMPLATE_USAGE}`);
  const ways = [values.record !== undefined || values.all, values.resolve !== undefined].filter(Boolean).length;
  if (ways > 1) throw new UsageError('--resolve takes the packages from the archive; it cannot be combined with --record or --all');
  const fromRecord = values.record !== undefined ? await packagesFromRecordFile(values.record) : null;
  if (fromRecord && list(values.roots).length) throw new UsageError('--roots selects from this machine\'s dpkg database; a record holds no dependencies (its whole package set is the builder)');
  const suite = values.suite ?? fromRecord?.codename ?? (await readOsRelease()).VERSION_CODENAME;
  if (!suite) throw new UsageError('--suite is required (the record names no VERSION_CODENAME)');
  const archives = await lockArchives(values.archive ?? [], suite, list(values.components));
  if (archives.length === 0) throw new UsageError(`--archive is required: no apt source of this machine serves ${suite} (or set DETBUILD_TEMPLATE_ARCHIVE)`);
  const epoch = int('epoch', values.epoch) ?? defaultEpoch(archives[0]!.uri);
  const imageSizeMiB = int('image-size', values['image-size']);

  const { packages, architecture } = fromRecord
    ? fromRecord
    : await lockPackages(
        values.resolve !== undefined ? { from: 'archive', names: list(values.resolve), architecture: 'amd64' } : { from: 'here', all: values.all === true, roots: list(values.roots) },
        archives,
      );
  const lock = makeLock(packages, { suite, architecture, archives, epoch, ...(imageSizeMiB !== undefined ? { imageSizeMiB } : {}) });
  const text = serializeLock(lock);
  if (values.out !== undefined) {
    await writeFile(values.out, text);
    process.stderr.write(`detbuild: ${lock.packages.length} packages locked into ${values.out}\n`);
  } else {
    process.stdout.write(text);
  }
  return EXIT.ok;
}

async function fetchCommand(argv: string[]): Promise<number> {
  const parsed = commandLine(argv, FETCH_OPTIONS, helpText(TEMPLATE_USAGE, "Fetches a lock's packages into a source directory a builder can build offline.", FETCH_OPTIONS));
  if (!parsed) return EXIT.ok;
  const { values, positionals } = parsed;
  if (positionals.length !== 1 || values.out === undefined) throw new UsageError(`expected LOCK and -o SRC_DIR\n${TEMPLATE_USAGE}`);
  const lock = await readLock(positionals[0]!);
  const src = path.resolve(values.out);
  const work = await mkdtemp(path.join(tmpdir(), 'detbuild-fetch-'));
  let r;
  try {
    r = await fetchTemplateSources(lock, {
      sourceDir: src,
      workDir: work,
      ...(values.cache !== undefined ? { cacheDir: path.resolve(values.cache) } : {}),
      log: (m) => process.stderr.write(`detbuild: ${m}\n`),
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  process.stdout.write(`${r.lockSha256}  lock\n${src}\n`);
  return EXIT.ok;
}

async function buildCommand(argv: string[]): Promise<number> {
  const parsed = commandLine(argv, BUILD_OPTIONS, helpText(TEMPLATE_USAGE, "Regenerates a builder's template image (root.tar, root.img) from a lock under the engine.", BUILD_OPTIONS));
  if (!parsed) return EXIT.ok;
  const { values, positionals } = parsed;
  if (positionals.length !== 1 || values.out === undefined) throw new UsageError(`expected LOCK and -o OUT_DIR\n${TEMPLATE_USAGE}`);
  const lock = await readLock(positionals[0]!);
  // a scratch directory of our own is removed afterwards; one given with --work is kept
  const work = values.work !== undefined ? path.resolve(values.work) : await mkdtemp(path.join(tmpdir(), 'detbuild-template-'));
  try {
    const r = await cancellable((signal) =>
      regenerateTemplate(lock, {
        outDir: path.resolve(values.out!),
        workDir: work,
        ...(values.cache !== undefined ? { cacheDir: path.resolve(values.cache) } : {}),
        mode: values.plain ? 'plain' : 'deterministic',
        signal,
        log: (m) => process.stderr.write(`detbuild: ${m}\n`),
        onEvent: eventPrinter(values.quiet),
      }),
    );
    if (values.json) printJson({ lockSha256: r.fetch.lockSha256, tarballSha256: r.tarballSha256, imageSha256: r.imageSha256, imageBytes: r.imageBytes, result: { ...r.build, stats: undefined } });
    else if (r.build.ok) process.stdout.write(`${r.tarballSha256}  root.tar\n${r.imageSha256}  root.img\n${path.join(r.build.outDir!, 'manifest.json')}\n`);
    if (!r.build.ok) printFailure('detbuild', r.build.message, r.build.logPath);
    return exitCodeOfResult(r.build);
  } finally {
    if (values.work === undefined) await rm(work, { recursive: true, force: true });
  }
}

export async function runTemplateCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') {
    process.stdout.write(`${TEMPLATE_USAGE}\n`);
    return EXIT.ok;
  }
  try {
    switch (sub) {
      case 'lock':
        return await lockCommand(rest);
      case 'fetch':
        return await fetchCommand(rest);
      case 'build':
        return await buildCommand(rest);
      default:
        throw new UsageError(`expected 'template lock', 'template fetch' or 'template build'\n${TEMPLATE_USAGE}`);
    }
  } catch (err) {
    if (err instanceof TemplateError) {
      process.stderr.write(`detbuild: ${describeError(err).split('\n')[0]}\n`);
      return exitCodeOfError(err);
    }
    throw err;
  }
}
