/**
 * A rebuild: check the sources against the record, check the builder's environment against
 * the record, build, and compare every artifact with the statement's subjects. The verdict
 * and what supports it go into OUT_DIR:
 *
 *   verdict.json     the verdict (GOOD, BAD, UNVERIFIABLE, FAILED) and why
 *   rebuilt/         the rebuild's own result directory (artifacts, manifest, log, record files)
 *   diffoscope.txt   BAD: diffoscope's full report (published file against rebuilt file)
 *
 * verdict.json is written last: a directory without it holds no verdict.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { DiffoscopeOptions } from '../record/diffoscope.js';
import { jsonText } from '../record/files.js';
import { assertOutDirUsable } from '../engine/publish.js';
import { compareArtifacts, explainDifferences, type ArtifactComparison } from './compare.js';
import { checkEnvironment, describeEnvironmentCheck, type EnvironmentCheck } from './environment.js';
import { RebuildError } from './errors.js';
import type { Published } from './published.js';
import type { RebuildEvent, RebuildRun, Rebuilder } from './rebuilder.js';
import { checkSources } from './sources.js';

export type Verdict = 'GOOD' | 'BAD' | 'UNVERIFIABLE' | 'FAILED';

export interface RebuildReport {
  format: 'detbuild-rebuild/1';
  verdict: Verdict;
  /** one line */
  message: string;
  builder: string;
  published: { files: string[]; statementSha256: string | null; artifacts: number };
  sourcesSha256: string;
  environment: EnvironmentCheck | null;
  differences: ArtifactComparison[];
  /** the first lines of diffoscope's report (the whole is in diffoscope.txt) */
  diffoscopeSummary: string | null;
  diffoscopeReport: string | null;
  rebuilt: { dir: string | null; status: string; message: string; log: string | null } | null;
}

export interface RebuildOptions {
  signal?: AbortSignal;
  onEvent?: (e: RebuildEvent) => void;
  diffoscope: DiffoscopeOptions;
}

export const REBUILT_DIR = 'rebuilt';
export const VERDICT_FILE = 'verdict.json';
export const DIFFOSCOPE_FILE = 'diffoscope.txt';
const SUMMARY_LINES = 25;

export async function rebuild(published: Published, sourcesDir: string, rebuilder: Rebuilder, outDir: string, opts: RebuildOptions): Promise<RebuildReport> {
  await assertOutDirUsable(outDir);
  const sourcesSha256 = await checkSources(published.build, sourcesDir);
  const base = {
    format: 'detbuild-rebuild/1' as const,
    builder: rebuilder.where,
    published: { files: published.files, statementSha256: published.statementSha256, artifacts: published.subjects.length },
    sourcesSha256,
    differences: [] as ArtifactComparison[],
    diffoscopeSummary: null,
    diffoscopeReport: null,
  };
  const finish = async (report: RebuildReport): Promise<RebuildReport> => {
    await fs.mkdir(outDir, { recursive: true });
    await fs.writeFile(path.join(outDir, VERDICT_FILE), jsonText(report));
    return report;
  };

  opts.onEvent?.({ kind: 'stage', stage: 'environment', message: `comparing the environment of ${rebuilder.where} with the recorded one` });
  // nothing is written before the builder has answered
  const before = checkEnvironment(published.environment, await rebuilder.environment(opts.signal));
  if (!before.identical) {
    return finish({ ...base, verdict: 'UNVERIFIABLE', message: `refused: ${rebuilder.where} is not the recorded environment (${describeEnvironmentCheck(before)})`, environment: before, rebuilt: null });
  }

  await fs.mkdir(outDir, { recursive: true });
  const rebuiltDir = path.join(outDir, REBUILT_DIR);
  const run: RebuildRun = await rebuilder.build(published.build, sourcesDir, rebuiltDir, { signal: opts.signal, onEvent: opts.onEvent });
  const rebuilt = { dir: run.outDir, status: run.status, message: run.message, log: run.logPath };
  if (!run.ok || !run.manifest) {
    return finish({ ...base, verdict: 'FAILED', message: `the rebuild did not complete: ${run.message}`, environment: before, rebuilt });
  }
  // the builder that built may not be the one asked first (a fresh disposable per call)
  const after = run.record ? checkEnvironment(published.environment, run.record) : before;
  if (!after.identical) {
    return finish({ ...base, verdict: 'UNVERIFIABLE', message: `refused: the build ran in another environment than the recorded one (${describeEnvironmentCheck(after)})`, environment: after, rebuilt });
  }
  if (run.manifest.sourceHash !== published.build.sourceHash) {
    throw new RebuildError('REBUILD_SOURCES', `the builder built other sources (${run.manifest.sourceHash.slice(0, 16)}…) than recorded (${published.build.sourceHash.slice(0, 16)}…)`);
  }

  opts.onEvent?.({ kind: 'stage', stage: 'compare', message: `comparing ${run.manifest.artifacts.length} artifacts with the statement's ${published.subjects.length}` });
  const differences = await compareArtifacts(published.subjects, run.manifest.artifacts, published.artifactsDir);
  if (differences.length === 0) {
    return finish({ ...base, verdict: 'GOOD', message: `all ${published.subjects.length} artifacts are identical to the statement's`, environment: after, rebuilt });
  }
  const report = await explainDifferences(differences, published.artifactsDir, path.join(rebuiltDir, 'artifacts'), opts.diffoscope);
  if (report !== null) await fs.writeFile(path.join(outDir, DIFFOSCOPE_FILE), report);
  const names = differences.slice(0, 5).map((d) => d.path).join(', ');
  return finish({
    ...base,
    verdict: 'BAD',
    message: `${differences.length} of ${Math.max(published.subjects.length, run.manifest.artifacts.length)} artifacts differ: ${names}${differences.length > 5 ? ', …' : ''}`,
    environment: after,
    differences,
    diffoscopeSummary: report === null ? null : report.split('\n').slice(0, SUMMARY_LINES).join('\n'),
    diffoscopeReport: report === null ? null : DIFFOSCOPE_FILE,
    rebuilt,
  });
}
