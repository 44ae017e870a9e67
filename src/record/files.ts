/**
 * The record files every build result holds, local or remote: record.json, the record as a
 * Debian .buildinfo, and as an in-toto statement (SLSA provenance). One writer for all.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Manifest } from '../engine/types.js';
import { toBuildinfo } from './buildinfo.js';
import { toInTotoStatement } from './intoto.js';
import type { EnvironmentRecord } from './schema.js';

export const RECORD_FILES = {
  record: 'record.json',
  buildinfo: 'environment.buildinfo',
  provenance: 'provenance.intoto.json',
} as const;

export const jsonText = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

/** Writes the three record files into a result directory (beside artifacts/ and manifest.json). */
export async function writeRecordFiles(dir: string, record: EnvironmentRecord, manifest: Manifest): Promise<void> {
  await fs.writeFile(path.join(dir, RECORD_FILES.record), jsonText(record));
  await fs.writeFile(path.join(dir, RECORD_FILES.buildinfo), toBuildinfo(record, manifest.artifacts));
  await fs.writeFile(path.join(dir, RECORD_FILES.provenance), jsonText(toInTotoStatement(record, manifest)));
}
