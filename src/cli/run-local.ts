/**
 * Running one build spec locally for a CLI command: Ctrl-C cancels it, the
 * engine's events go to stderr (unless quiet), the result to stdout (hashes or
 * JSON), a failure is one `detbuild:` line, and the exit status says how it ended.
 * The result holds the environment record files, as a remote build's does.
 */
import path from 'node:path';
import type { BuildSpec } from '../engine/index.js';
import { buildLocally } from '../local/build.js';
import type { RecipeRecord } from '../record/schema.js';
import { exitCodeOfResult } from '../outcome.js';
import { formatEvent } from './format.js';
import { onInterrupt } from './cancel.js';

export interface LocalRunOptions {
  outDir: string;
  quiet?: boolean;
  json?: boolean;
  /** extra fields of the --json summary */
  jsonExtra?: Record<string, unknown>;
  /** what the failure line names before the message (e.g. the source package) */
  label?: string;
  /** what the sources are, for the record (default: a command build) */
  recipe?: RecipeRecord;
}

export async function runLocally(spec: BuildSpec, opts: LocalRunOptions): Promise<number> {
  const interrupt = onInterrupt();
  try {
    const result = await buildLocally(spec, {
      outDir: opts.outDir,
      recipe: opts.recipe,
      signal: interrupt.signal,
      // warnings (a workspace left behind) are shown even when quiet
      onEvent: (e) => {
        if (opts.quiet && e.kind !== 'warning') return;
        const line = formatEvent(e);
        if (line !== null) process.stderr.write(`${line}\n`);
      },
    });
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ ...result, stats: undefined, record: undefined, ...opts.jsonExtra }, null, 2)}\n`);
    } else if (result.ok && result.manifest) {
      for (const a of result.manifest.artifacts) process.stdout.write(`${a.sha256}  ${a.path}\n`);
      process.stdout.write(`${path.join(result.outDir!, 'manifest.json')}\n`);
    }
    if (!result.ok) {
      const where = result.logPath ? ` (log: ${result.logPath})` : '';
      process.stderr.write(`detbuild: ${opts.label ? `${opts.label}: ` : ''}${result.message}${where}\n`);
    }
    return exitCodeOfResult(result);
  } finally {
    interrupt.release();
  }
}
