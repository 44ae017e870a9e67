/**
 * `detbuild build SRC_DIR... --out OUT_DIR [--jobs N]` and `detbuild deb FILE.dsc... `:
 * builds side by side on this machine, each pinned to a CPU of its own (its worker slot's),
 * each result with its record files, as one build leaves it.
 */
import { allowedCpus, type BuildSpec } from '../../engine/index.js';
import { buildLocally } from '../../local/build.js';
import type { RecipeRecord } from '../../record/schema.js';
import { exitCodeOfResult } from '../../outcome.js';
import { runBatch } from './run-batch.js';

export interface PreparedInput {
  spec: BuildSpec;
  recipe: RecipeRecord;
  cleanup?(): Promise<void>;
}

export interface LocalManyOptions {
  outRoot: string;
  jobs: number;
  json?: boolean;
  quiet?: boolean;
  command: string;
  /** the input's spec (throws a one-line error when the input is bad) */
  prepare(input: string): Promise<PreparedInput>;
  /** exit status of a preparation that failed */
  prepareExit(err: unknown): number;
}

export async function runLocalMany(inputs: readonly string[], opts: LocalManyOptions): Promise<number> {
  const cpus = await allowedCpus();
  return runBatch(inputs, opts, async (ctx) => {
    ctx.stage('preparing');
    let prepared: PreparedInput;
    try {
      prepared = await opts.prepare(ctx.input);
    } catch (err) {
      return { ok: false, status: 'rejected', exitCode: opts.prepareExit(err), message: (err as Error).message.split('\n')[0]!, artifacts: null, outDir: null, logPath: null };
    }
    try {
      const r = await buildLocally(prepared.spec, {
        outDir: ctx.outDir,
        recipe: prepared.recipe,
        signal: ctx.signal,
        cpu: cpus[ctx.slot % cpus.length],
        onEvent: (e) => {
          if (e.kind === 'stage') ctx.stage(e.stage);
        },
      });
      return { ok: r.ok, status: r.status, exitCode: exitCodeOfResult(r), message: r.message, artifacts: r.manifest?.artifacts.length ?? null, outDir: r.outDir, logPath: r.logPath };
    } finally {
      await prepared.cleanup?.();
    }
  });
}
