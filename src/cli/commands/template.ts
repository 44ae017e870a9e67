/** `detbuild template lock|fetch|build`: argv in, recipe call, one-line errors out. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { describeError } from '../../errors.js';
import { readOsRelease } from '../../record/index.js';
import { exitCodeOfError, exitCodeOfResult } from '../../outcome.js';
import {
  BUILDER_ROOTS,
  TemplateError,
  aptUpdate,
  availablePackages,
  builderPackagesHere,
  createAptEnv,
  fetchTemplateSources,
  machineArchiveUri,
  makeLock,
  packagesFromRecordFile,
  readLock,
  regenerateTemplate,
  resolveClosure,
  serializeLock,
  type LockedPackage,
} from '../../recipes/template/index.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { formatEvent } from '../format.js';
import { onInterrupt } from '../cancel.js';

export const TEMPLATE_USAGE = `usage: detbuild template lock [-o LOCK] [--record FILE] [--all | --roots PKG,...] [--resolve PKG,...|essential]
                              [--archive 'URI [SUITE [COMPONENT...]]']... [--suite SUITE] [--components C,...] [--epoch SECONDS] [--image-size MIB]
       detbuild template fetch LOCK -o SRC_DIR [--cache DIR]
       detbuild template build LOCK -o OUT_DIR [--cache DIR] [--work DIR] [--plain] [--json] [--quiet]`;

function parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${TEMPLATE_USAGE}`);
  }
}

function list(v: unknown): string[] {
  return typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : [];
}

function int(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UsageError(`--${name}: expected a non-negative integer, got '${String(v)}'`);
  return Number(v);
}

/** A snapshot archive's date (…/20250520T000000Z) is the natural epoch of a lock; else today, 00:00 UTC. */
export function defaultEpoch(uri: string, now = Date.now()): number {
  const m = /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(uri);
  if (m) return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
  return Math.floor(now / 86_400_000) * 86_400;
}

async function lockCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    out: { type: 'string', short: 'o' },
    record: { type: 'string' },
    all: { type: 'boolean' },
    roots: { type: 'string' },
    resolve: { type: 'string' },
    archive: { type: 'string', multiple: true },
    suite: { type: 'string' },
    components: { type: 'string' },
    epoch: { type: 'string' },
    'image-size': { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'\n${TEMPLATE_USAGE}`);
  const ways = [values.record !== undefined || values.all, values.resolve !== undefined].filter(Boolean).length;
  if (ways > 1) throw new UsageError('--resolve takes the packages from the archive; it cannot be combined with --record or --all');
  const fromRecord = typeof values.record === 'string' ? await packagesFromRecordFile(values.record) : null;
  const osRelease = fromRecord ? null : await readOsRelease();
  const suite = (values.suite as string | undefined) ?? fromRecord?.codename ?? osRelease?.VERSION_CODENAME;
  if (!suite) throw new UsageError('--suite is required (the record names no VERSION_CODENAME)');
  const components = list(values.components);
  // --archive 'URI [SUITE [COMPONENT...]]', repeatable (e.g. the distribution, its security archive, Qubes' repository)
  const given = (values.archive as string[] | undefined) ?? [];
  const archives = given.map((a) => {
    const [uri, s, ...c] = a.trim().split(/\s+/);
    return { uri: uri!, suite: s ?? suite, components: c.length ? c : components.length ? components : ['main'] };
  });
  if (archives.length === 0) {
    const uri = await machineArchiveUri(suite);
    if (!uri) throw new UsageError(`--archive is required: no apt source of this machine serves ${suite} (or set DETBUILD_TEMPLATE_ARCHIVE)`);
    archives.push({ uri, suite, components: components.length ? components : ['main'] });
  }
  const uri = archives[0]!.uri;
  const epoch = int('epoch', values.epoch) ?? defaultEpoch(uri);
  const imageSizeMiB = int('image-size', values['image-size']);

  let packages: LockedPackage[];
  let architecture: string;
  if (values.resolve !== undefined) {
    // the current versions in the archive: a lock made without a running builder
    architecture = fromRecord?.architecture ?? 'amd64';
    const scratch = await mkdtemp(path.join(tmpdir(), 'detbuild-lock-'));
    try {
      const apt = await createAptEnv(scratch, archives, architecture);
      await aptUpdate(apt);
      let names = list(values.resolve);
      if (names.includes('essential')) {
        const essential = (await availablePackages(apt)).filter((p) => p.essential).map((p) => p.name);
        names = [...new Set([...names.filter((n) => n !== 'essential'), ...essential])];
      }
      packages = await resolveClosure(apt, names);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  } else if (fromRecord) {
    architecture = fromRecord.architecture;
    const roots = list(values.roots);
    if (roots.length) throw new UsageError('--roots selects from this machine\'s dpkg database; a record holds no dependencies (its whole package set is the builder)');
    packages = fromRecord.packages;
  } else {
    const { execa } = await import('execa');
    architecture = (await execa('dpkg', ['--print-architecture'])).stdout.trim();
    const allHere = values.all === true;
    if (allHere) {
      const { listInstalledPackages } = await import('../../record/index.js');
      packages = (await listInstalledPackages()).packages;
    } else {
      const roots = list(values.roots);
      packages = await builderPackagesHere(roots.length ? roots : BUILDER_ROOTS);
    }
  }
  const lock = makeLock(packages, { suite, architecture, archives, epoch, ...(imageSizeMiB !== undefined ? { imageSizeMiB } : {}) });
  const text = serializeLock(lock);
  if (typeof values.out === 'string') {
    await writeFile(values.out, text);
    process.stderr.write(`detbuild: ${lock.packages.length} packages locked into ${values.out}\n`);
  } else {
    process.stdout.write(text);
  }
  return EXIT.ok;
}

async function fetchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { out: { type: 'string', short: 'o' }, cache: { type: 'string' } });
  if (positionals.length !== 1 || typeof values.out !== 'string') throw new UsageError(`expected LOCK and -o SRC_DIR\n${TEMPLATE_USAGE}`);
  const lock = await readLock(positionals[0]!);
  const src = path.resolve(values.out);
  const work = await mkdtemp(path.join(tmpdir(), 'detbuild-fetch-'));
  let r;
  try {
    r = await fetchTemplateSources(lock, {
      sourceDir: src,
      workDir: work,
      ...(typeof values.cache === 'string' ? { cacheDir: path.resolve(values.cache) } : {}),
      log: (m) => process.stderr.write(`detbuild: ${m}\n`),
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  process.stdout.write(`${r.lockSha256}  lock\n${src}\n`);
  return EXIT.ok;
}

async function buildCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    out: { type: 'string', short: 'o' },
    cache: { type: 'string' },
    work: { type: 'string' },
    plain: { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
  });
  if (positionals.length !== 1 || typeof values.out !== 'string') throw new UsageError(`expected LOCK and -o OUT_DIR\n${TEMPLATE_USAGE}`);
  const lock = await readLock(positionals[0]!);
  const interrupt = onInterrupt();
  // a scratch directory of our own is removed afterwards; one given with --work is kept
  const work = typeof values.work === 'string' ? path.resolve(values.work) : await mkdtemp(path.join(tmpdir(), 'detbuild-template-'));
  try {
    const r = await regenerateTemplate(lock, {
      outDir: path.resolve(values.out),
      workDir: work,
      ...(typeof values.cache === 'string' ? { cacheDir: path.resolve(values.cache) } : {}),
      mode: values.plain ? 'plain' : 'deterministic',
      signal: interrupt.signal,
      log: (m) => process.stderr.write(`detbuild: ${m}\n`),
      // warnings (a workspace left behind) are shown even when quiet
      onEvent: (e) => {
        if (values.quiet && e.kind !== 'warning') return;
        const line = formatEvent(e);
        if (line !== null) process.stderr.write(`${line}\n`);
      },
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ lockSha256: r.fetch.lockSha256, tarballSha256: r.tarballSha256, imageSha256: r.imageSha256, imageBytes: r.imageBytes, result: { ...r.build, stats: undefined } }, null, 2)}\n`);
    } else if (r.build.ok) {
      process.stdout.write(`${r.tarballSha256}  root.tar\n${r.imageSha256}  root.img\n${path.join(r.build.outDir!, 'manifest.json')}\n`);
    }
    if (!r.build.ok) {
      process.stderr.write(`detbuild: ${r.build.message}${r.build.logPath ? ` (log: ${r.build.logPath})` : ''}\n`);
    }
    return exitCodeOfResult(r.build);
  } finally {
    interrupt.release();
    if (typeof values.work !== 'string') await rm(work, { recursive: true, force: true });
  }
}

export async function runTemplateCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if ([sub, ...rest].some((a) => a === '--help' || a === '-h')) {
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
