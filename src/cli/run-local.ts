/**
 * Running one build spec locally for a CLI command: Ctrl-C cancels it, the
 * engine's events go to stderr (unless quiet), the result to stdout (hashes or
 * JSON), a failure is one `detbuild:` line, and the exit status says how it ended.
 * The result holds the environment record files, as a remote build's does.
 */
import type { BuildSpec } from '../engine/index.js';
import { buildLocally } from '../local/build.js';
import type { RecipeRecord } from '../record/schema.js';
import { exitCodeOfResult } from '../outcome.js';
import { eventPrinter, printArtifacts, printFailure, printJson } from './format.js';
import { cancellable } from './cancel.js';

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
  const result = await cancellable((signal) =>
    buildLocally(spec, { outDir: opts.outDir, recipe: opts.recipe, signal, onEvent: eventPrinter(opts.quiet) }),
  );
  if (opts.json) printJson({ ...result, stats: undefined, record: undefined, ...opts.jsonExtra });
  else if (result.ok && result.manifest) printArtifacts(result.manifest, result.outDir!);
  if (!result.ok) printFailure(`detbuild${opts.label ? `: ${opts.label}` : ''}`, result.message, result.logPath);
  return exitCodeOfResult(result);
}
