/**
 * `detbuild rebuild PROVENANCE --sources SRC --out DIR [--target QUBE] [--sign KEY]`:
 * rebuild what a published provenance describes and say whether the artifacts agree.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { dir as tmpDir } from 'tmp-promise';
import { rebuildStatement, signStatement, ATTESTATION_FILE } from '../../attest/attestation.js';
import { gpgSign } from '../../attest/gpg.js';
import { RemoteInfoError, remoteRebuilder } from '../../client/rebuilder.js';
import { DetbuildError, describeError } from '../../errors.js';
import type { OverallStatus } from '../../protocol/status.js';
import { exitCodeOf, exitCodeOfError } from '../../outcome.js';
import { DIFFOSCOPE_DEFAULTS } from '../../record/diffoscope.js';
import { jsonText } from '../../record/files.js';
import { ManifestSchema } from '../../record/manifest.js';
import { EnvironmentRecordSchema } from '../../record/schema.js';
import { RebuildError } from '../../rebuild/errors.js';
import { localRebuilder } from '../../rebuild/local.js';
import { obtainSources, readRebuildInput } from '../../rebuild/fetch.js';
import { loadPublished } from '../../rebuild/published.js';
import { rebuild, type RebuildReport } from '../../rebuild/rebuild.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { eventPrinter, printFailure } from '../format.js';
import { HELP_OPTION, helpText, commandLine, required } from '../options.js';
import { onInterrupt } from '../cancel.js';

export const REBUILD_USAGE = `usage: detbuild rebuild PROVENANCE --sources SOURCES --out OUT_DIR [--target QUBE]
                        [--sign KEY] [--gpg PROGRAM] [--builder-id URI] [--json] [--quiet]
       detbuild rebuild INPUT.json --out OUT_DIR [...]`;

const REBUILD_OPTIONS = {
  sources: { type: 'string', short: 's', arg: 'SOURCES', help: 'what was built: a directory, a tarball or a .dsc, a path or a URL' },
  out: { type: 'string', short: 'o', arg: 'OUT_DIR', help: 'verdict.json, rebuilt/, diffoscope.txt; must not exist, or be empty' },
  target: { type: 'string', short: 't', arg: 'QUBE', help: 'rebuild in this builder qube (@dispvm:detbuild-dvm: a fresh disposable) instead of here' },
  sign: { type: 'string', arg: 'KEY', help: `after a GOOD rebuild, sign an attestation with this GnuPG key (OUT_DIR/${ATTESTATION_FILE})` },
  gpg: { type: 'string', arg: 'PROGRAM', help: 'the signing program (default gpg; qubes-gpg-client-wrapper for split GPG)' },
  'builder-id': { type: 'string', arg: 'URI', help: 'the rebuilder named in the attestation (default urn:qubes-detbuild:rebuilder)' },
  json: { type: 'boolean', help: 'print the verdict report as JSON on stdout' },
  quiet: { type: 'boolean', short: 'q', help: 'no live log on stderr' },
  ...HELP_OPTION,
} as const;

export const REBUILD_HELP = helpText(
  REBUILD_USAGE,
  `Rebuilds what a published provenance.intoto.json (or record.json, or their result directory)
describes: the sources must hash to the recorded source hash, the builder's environment must be the
recorded one, then every artifact is compared with the statement's subjects. INPUT.json is
{"format": "detbuild-rebuild-input/1", "provenance": PATH|URL, "sources": PATH|URL}.
exit status: 0 GOOD, 14 BAD, 15 UNVERIFIABLE (another environment), 16 the sources do not match,
3 bad input, 18 GOOD but not signed; a failed build exits as detbuild build / remote do (docs/REBUILD.md)`,
  REBUILD_OPTIONS,
);

const VERDICT_EXIT = { GOOD: EXIT.ok, BAD: EXIT.rebuildBad, UNVERIFIABLE: EXIT.rebuildUnverifiable } as const;

export async function runRebuildCommand(argv: string[]): Promise<number> {
  const parsed = commandLine(argv, REBUILD_OPTIONS, REBUILD_HELP);
  if (!parsed) return EXIT.ok;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError(`expected exactly one PROVENANCE\n${REBUILD_USAGE}`);
  const out = required(values.out, '--out OUT_DIR', REBUILD_USAGE);
  if ((values.gpg !== undefined || values['builder-id'] !== undefined) && values.sign === undefined) throw new UsageError('--gpg and --builder-id belong to --sign');
  const outDir = path.resolve(out);
  const quiet = values.quiet === true || values.json === true;

  const interrupt = onInterrupt();
  let report: RebuildReport;
  const work = await tmpDir({ prefix: 'detbuild-rebuild-', unsafeCleanup: true });
  try {
    const { provenance, sources } = await inputs(positionals[0]!, values.sources, work.path);
    const published = await loadPublished(provenance);
    const sourcesDir = await obtainSources(sources, path.join(work.path, 'sources'));
    report = await rebuild(published, sourcesDir, values.target ? remoteRebuilder(values.target) : localRebuilder, outDir, {
      signal: interrupt.signal,
      onEvent: eventPrinter(quiet),
      diffoscope: { ...DIFFOSCOPE_DEFAULTS, maxReportBytes: 4 * 1024 * 1024 },
    });
  } catch (err) {
    return failure(err);
  } finally {
    interrupt.release();
    await work.cleanup().catch(() => undefined);
  }

  if (values.json) process.stdout.write(jsonText(report));
  else {
    process.stdout.write(`${report.verdict}: ${report.message}\n`);
    if (report.verdict === 'BAD') {
      for (const d of report.differences) process.stdout.write(`  ${d.path}: statement ${d.recorded ?? 'absent'}, rebuilt ${d.rebuilt ?? 'absent'}${d.published !== undefined ? `, published file ${d.published ?? 'absent'}` : ''}\n`);
      if (report.diffoscopeSummary) process.stdout.write(`${report.diffoscopeSummary}\n(diffoscope's full report: ${path.join(outDir, report.diffoscopeReport!)})\n`);
      else process.stdout.write('(no diffoscope report: the published artifacts are not beside the provenance, or diffoscope is not installed)\n');
    }
  }
  if (report.verdict === 'FAILED') {
    printFailure('detbuild rebuild', report.message, report.rebuilt?.log);
    return exitCodeOf(report.rebuilt!.status as OverallStatus) ?? EXIT.engine;
  }
  if (report.verdict === 'GOOD' && values.sign !== undefined) {
    try {
      const dir = report.rebuilt!.dir!;
      const record = EnvironmentRecordSchema.parse(JSON.parse(await fs.readFile(path.join(dir, 'record.json'), 'utf8')));
      const manifest = ManifestSchema.parse(JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8')));
      const statement = rebuildStatement(record, manifest, { builderId: values['builder-id'], reproduces: report.published.statementSha256 });
      const envelope = await signStatement(statement, (data) => gpgSign(data, { key: values.sign!, program: values.gpg }));
      await fs.writeFile(path.join(outDir, ATTESTATION_FILE), jsonText(envelope));
      if (!values.json) process.stdout.write(`signed by ${envelope.signatures[0]!.keyid}: ${path.join(outDir, ATTESTATION_FILE)}\n`);
    } catch (err) {
      process.stderr.write(`detbuild rebuild: GOOD, but not signed: ${describeError(err)}\n`);
      return EXIT.signFailed;
    }
  }
  return VERDICT_EXIT[report.verdict];
}

/** The provenance (a local file) and the sources pointer, from the arguments or a rebuild input file. */
async function inputs(first: string, sources: string | undefined, workDir: string): Promise<{ provenance: string; sources: string }> {
  let provenance = first;
  if (/^https?:\/\//.test(first)) {
    const file = path.join(workDir, 'provenance.json');
    const res = await fetch(first).catch((err: unknown) => {
      throw new RebuildError('REBUILD_FETCH', `cannot fetch ${first}: ${describeError(err)}`);
    });
    if (!res.ok) throw new RebuildError('REBUILD_FETCH', `cannot fetch ${first}: HTTP ${res.status}`);
    await fs.writeFile(file, Buffer.from(await res.arrayBuffer()));
    provenance = file;
  }
  provenance = path.resolve(provenance);
  const st = await fs.stat(provenance).catch(() => null);
  if (st?.isFile()) {
    let value: unknown = null;
    try {
      value = JSON.parse(await fs.readFile(provenance, 'utf8'));
    } catch {
      // not JSON: loadPublished says what it is not
    }
    if ((value as { format?: unknown } | null)?.format === 'detbuild-rebuild-input/1') {
      const input = await readRebuildInput(provenance, value, path.join(workDir, 'input'));
      return { provenance: input.provenance, sources: sources ?? input.sources };
    }
  }
  if (!sources) throw new UsageError(`--sources is required (or give a rebuild input file)\n${REBUILD_USAGE}`);
  return { provenance, sources };
}

function failure(err: unknown): number {
  const line = (msg: string) => process.stderr.write(`detbuild rebuild: ${msg.split('\n')[0]}\n`);
  if (err instanceof UsageError) throw err;
  if (err instanceof RebuildError) {
    line(err.message);
    if (err.code === 'REBUILD_SOURCES') return EXIT.sourcesMismatch;
    if (err.code === 'REBUILD_RECIPE') return EXIT.rebuildUnverifiable;
    return exitCodeOfError(err);
  }
  if (err instanceof RemoteInfoError) {
    line(err.message);
    return exitCodeOf(err.status);
  }
  if (err instanceof DetbuildError) {
    line(err.message);
    return exitCodeOfError(err);
  }
  line(`internal error: ${describeError(err)}`);
  return EXIT.internal;
}
