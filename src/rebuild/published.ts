/**
 * What a rebuild starts from: a published build, given as its provenance.intoto.json, its
 * record.json, or the result directory holding them. The files found beside the one named
 * (record.json, manifest.json, artifacts/) are used too, and must agree with it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { canonicalSha256 } from '../record/canonical.js';
import { recordIsSealed } from '../record/collect.js';
import { RECORD_FILES } from '../record/files.js';
import { ManifestSchema } from '../record/manifest.js';
import { EnvironmentRecordSchema, type EnvironmentRecord, type InstalledPackage } from '../record/schema.js';
import type { Manifest } from '../engine/types.js';
import { RebuildError } from './errors.js';
import { StatementSchema, describedBuild, packagesOf, subjectsOf, type BuildDescription, type Statement, type Subject } from './statement.js';

export interface Published {
  build: BuildDescription;
  /** the artifacts the publisher claims, sorted by path */
  subjects: Subject[];
  /** the environment the publisher built in */
  environment: {
    sha256: string;
    /** the installed packages (from record.json, else from the statement's package URLs) */
    packages: InstalledPackage[];
    /** the whole record when one was published */
    record: EnvironmentRecord | null;
    /** what the statement says besides packages, for a statement without its record */
    kernel: string | null;
    toolchain: Record<string, string | null> | null;
    engineVersion: string | null;
  };
  /** the published artifacts, when they sit beside the provenance (artifacts/) */
  artifactsDir: string | null;
  statement: Statement | null;
  /** sha256 of the statement's canonical JSON (what an attestation says it rebuilt) */
  statementSha256: string | null;
  /** the files read */
  files: string[];
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new RebuildError('REBUILD_INPUT', `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RebuildError('REBUILD_INPUT', `${file} is not JSON`, { cause: err });
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown, file: string, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new RebuildError('REBUILD_INPUT', `${file} is not ${what}: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  return r.data;
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

function inconsistent(file: string, what: string): never {
  throw new RebuildError('REBUILD_INPUT', `${file} does not match the provenance beside it (${what})`);
}

/** Loads a published build from a provenance, a record, or their directory. */
export async function loadPublished(input: string): Promise<Published> {
  const st = await fs.stat(input).catch((err: unknown) => {
    throw new RebuildError('REBUILD_INPUT', `cannot read ${input} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  });
  const dir = st.isDirectory() ? input : path.dirname(input);
  let statementFile: string | null = null;
  let recordFile: string | null = null;
  let named: unknown = null;
  if (st.isDirectory()) {
    if (await exists(path.join(dir, RECORD_FILES.provenance))) statementFile = path.join(dir, RECORD_FILES.provenance);
    if (await exists(path.join(dir, RECORD_FILES.record))) recordFile = path.join(dir, RECORD_FILES.record);
    if (!statementFile && !recordFile) throw new RebuildError('REBUILD_INPUT', `${input} holds neither ${RECORD_FILES.provenance} nor ${RECORD_FILES.record}`);
  } else {
    named = await readJson(input);
    const kind = (named as { _type?: unknown; format?: unknown } | null) ?? {};
    if (kind._type === 'https://in-toto.io/Statement/v1') {
      statementFile = input;
      // the record beside a statement is only used when the directory is a result directory
      if (path.basename(input) === RECORD_FILES.provenance && (await exists(path.join(dir, RECORD_FILES.record)))) recordFile = path.join(dir, RECORD_FILES.record);
    } else if (kind.format === 'detbuild-record/1') {
      recordFile = input;
      if (await exists(path.join(dir, RECORD_FILES.provenance))) statementFile = path.join(dir, RECORD_FILES.provenance);
    } else {
      throw new RebuildError('REBUILD_INPUT', `${input} is neither an in-toto statement nor a detbuild record`);
    }
  }

  const files: string[] = [];
  let statement: Statement | null = null;
  if (statementFile) {
    statement = parse(StatementSchema, statementFile === input && named !== null ? named : await readJson(statementFile), statementFile, 'a detbuild provenance statement');
    files.push(statementFile);
  }
  let record: EnvironmentRecord | null = null;
  if (recordFile) {
    record = parse(EnvironmentRecordSchema, recordFile === input && named !== null ? named : await readJson(recordFile), recordFile, 'a detbuild environment record');
    if (!recordIsSealed(record)) throw new RebuildError('REBUILD_INPUT', `${recordFile} was altered after it was sealed (its sha256 fields do not match its content)`);
    if (!record.build || record.build.sourceHash === null) throw new RebuildError('REBUILD_INPUT', `${recordFile} records no build`);
    files.push(recordFile);
  }
  const manifestFile = path.join(dir, 'manifest.json');
  let manifest: Manifest | null = null;
  if ((statementFile === null || st.isDirectory() || path.basename(statementFile) === RECORD_FILES.provenance) && (await exists(manifestFile))) {
    manifest = parse(ManifestSchema, await readJson(manifestFile), manifestFile, 'a detbuild manifest');
    files.push(manifestFile);
  }

  let build: BuildDescription;
  let subjects: Subject[];
  if (statement) {
    try {
      build = describedBuild(statement);
    } catch (err) {
      throw new RebuildError('REBUILD_INPUT', `${statementFile}: ${(err as Error).message}`);
    }
    subjects = subjectsOf(statement);
  } else {
    if (!manifest) throw new RebuildError('REBUILD_INPUT', `${recordFile} alone does not say what was built: its manifest.json or ${RECORD_FILES.provenance} must sit beside it`);
    const b = record!.build!;
    build = { mode: b.mode, command: b.command, epoch: b.epoch, seed: b.seed, timeStepNs: b.timeStepNs, sourceHash: b.sourceHash!, recipe: b.recipe ?? { kind: 'command' } };
    subjects = manifest.artifacts.map((a) => ({ path: a.path, sha256: a.sha256 })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  // whatever else was published must tell the same story
  if (statement && record) {
    const ip = statement.predicate.buildDefinition.internalParameters;
    if (ip.environmentSha256 !== record.environmentSha256) inconsistent(recordFile!, `environment sha256 ${record.environmentSha256.slice(0, 12)}…, the statement says ${ip.environmentSha256.slice(0, 12)}…`);
    const b = record.build!;
    const rb = { mode: b.mode, command: b.command, epoch: b.epoch, seed: b.seed, timeStepNs: b.timeStepNs, sourceHash: b.sourceHash, recipe: b.recipe ?? { kind: 'command' } };
    if (canonicalSha256(rb) !== canonicalSha256(build)) inconsistent(recordFile!, 'other build parameters');
  }
  if (manifest) {
    const m = manifest.artifacts.map((a) => `${a.path}\0${a.sha256}`).sort();
    const s = subjects.map((a) => `${a.path}\0${a.sha256}`).sort();
    if (m.join('\n') !== s.join('\n')) inconsistent(manifestFile, 'other artifacts');
    if (manifest.sourceHash !== build.sourceHash) inconsistent(manifestFile, 'another source hash');
  }

  const ip = statement?.predicate.buildDefinition.internalParameters;
  const artifactsDir = path.join(dir, 'artifacts');
  return {
    build,
    subjects,
    environment: {
      sha256: record?.environmentSha256 ?? ip!.environmentSha256,
      packages: record ? record.environment.packages : packagesOf(statement!),
      record,
      kernel: ip?.kernel ?? null,
      toolchain: ip?.toolchain ?? null,
      engineVersion: ip?.engineVersion ?? null,
    },
    artifactsDir: (statementFile === null || path.basename(statementFile) === RECORD_FILES.provenance || st.isDirectory()) && (await exists(artifactsDir)) ? artifactsDir : null,
    statement,
    statementSha256: statement ? canonicalSha256(statement) : null,
    files,
  };
}
