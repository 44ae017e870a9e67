/**
 * Several builds side by side, for `detbuild remote`, `build` and `deb` with several
 * inputs: bounded concurrency, one live view, one result directory per build under
 * OUT_DIR (its log kept beside it on failure), a summary table and OUT_DIR/summary.json.
 * A failing build does not stop the others; Ctrl-C cancels them all.
 *
 * Exit status: 0 when every build succeeded; 8 when cancelled; else the exit status of
 * the first build (in the order given) that failed.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describeError } from '../../errors.js';
import { jsonText } from '../../record/files.js';
import { EXIT } from '../exit-codes.js';
import { batchNames } from './names.js';
import { runBounded } from './pool.js';
import { ProgressBoard } from './progress.js';
import { summaryTable, type BatchOutcome } from './summary.js';

export const SUMMARY_FILE = 'summary.json';

export interface BatchContext {
  name: string;
  input: string;
  /** the build's own result directory: OUT_DIR/NAME */
  outDir: string;
  /** the worker slot (0..jobs-1): local builds take the CPU of their slot */
  slot: number;
  signal: AbortSignal;
  stage(text: string): void;
}

export type BatchBuild = (ctx: BatchContext) => Promise<Omit<BatchOutcome, 'name' | 'input' | 'durationMs'>>;

export interface BatchOptions {
  outRoot: string;
  jobs: number;
  json?: boolean;
  quiet?: boolean;
  /** the command, for messages */
  command: string;
}

async function prepareRoot(outRoot: string): Promise<void> {
  const entries = await fs.readdir(outRoot).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (entries && entries.length > 0) throw new Error(`the output directory exists and is not empty: ${outRoot}`);
  await fs.mkdir(outRoot, { recursive: true });
}

export async function runBatch(inputs: readonly string[], opts: BatchOptions, build: BatchBuild): Promise<number> {
  const outRoot = path.resolve(opts.outRoot);
  try {
    await prepareRoot(outRoot);
  } catch (err) {
    process.stderr.write(`${opts.command}: ${describeError(err)}\n`);
    return EXIT.usage;
  }
  const names = batchNames(inputs);
  const board = new ProgressBoard(names, process.stderr, opts.quiet || opts.json ? 'off' : process.stderr.isTTY ? 'tty' : 'lines');
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let results;
  try {
    results = await runBounded(inputs.length, opts.jobs, controller.signal, async (i, slot) => {
      board.start(i);
      const started = Date.now();
      let o: Awaited<ReturnType<BatchBuild>>;
      try {
        o = await build({ name: names[i]!, input: inputs[i]!, outDir: path.join(outRoot, names[i]!), slot, signal: controller.signal, stage: (t) => board.stage(i, t) });
      } catch (err) {
        o = { ok: false, status: 'error', exitCode: EXIT.internal, message: describeError(err), artifacts: null, outDir: null, logPath: null };
      }
      board.finish(i, o.ok ? `success, ${o.artifacts ?? 0} artifacts` : `${o.status}: ${o.message}`);
      return { ...o, name: names[i]!, input: inputs[i]!, durationMs: Date.now() - started };
    });
  } finally {
    board.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const outcomes: BatchOutcome[] = results.map((r, i) =>
    r.started
      ? r.value
      : { name: names[i]!, input: inputs[i]!, ok: false, status: 'not started', exitCode: EXIT.cancelled, message: 'cancelled before its turn', durationMs: null, artifacts: null, outDir: null, logPath: null },
  );
  await fs.writeFile(path.join(outRoot, SUMMARY_FILE), jsonText(outcomes));
  if (opts.json) process.stdout.write(jsonText(outcomes));
  else process.stdout.write(`${summaryTable(outcomes)}\n`);
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length > 0 && !opts.json) process.stderr.write(`${opts.command}: ${failed.length} of ${outcomes.length} builds did not succeed\n`);
  if (controller.signal.aborted) return EXIT.cancelled;
  return failed[0]?.exitCode ?? EXIT.ok;
}
