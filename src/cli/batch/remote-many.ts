/**
 * `detbuild remote INPUT... --out OUT_DIR [--jobs N]`: each input (a source directory, or
 * a FILE.dsc whose package is sent alone) goes to the target in its own qrexec call; with
 * @dispvm:TEMPLATE each call gets a fresh disposable, so N calls are N builders.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { dir as tmpDir } from 'tmp-promise';
import { runRemote } from '../../client/remote.js';
import type { Recipe } from '../../protocol/messages.js';
import { readDsc, verifyDscFiles } from '../../recipes/dsc.js';
import { runBatch, type BatchContext } from './run-batch.js';
import type { BatchOutcome } from './summary.js';

export interface RemoteManyOptions {
  target: string;
  /** the recipe's options shared by every build (command, epoch, limits, ...) */
  recipe: Recipe;
  outRoot: string;
  jobs: number;
  json?: boolean;
  quiet?: boolean;
}

/** A .dsc and its files alone, in a fresh directory (the rest of its directory is not sent). */
async function stageSourcePackage(dscPath: string): Promise<{ dir: string; dsc: string; cleanup(): Promise<void> }> {
  const dsc = await readDsc(dscPath);
  await verifyDscFiles(dsc);
  const tmp = await tmpDir({ prefix: 'detbuild-send-', unsafeCleanup: true });
  for (const name of [path.basename(dsc.path), ...dsc.files.map((f) => f.name)]) {
    await fs.copyFile(path.join(path.dirname(dsc.path), name), path.join(tmp.path, name));
  }
  return { dir: tmp.path, dsc: path.basename(dsc.path), cleanup: () => tmp.cleanup().catch(() => undefined) };
}

async function buildOne(ctx: BatchContext, opts: RemoteManyOptions): Promise<Omit<BatchOutcome, 'name' | 'input' | 'durationMs'>> {
  let sourceDir = path.resolve(ctx.input);
  let recipe: Recipe = opts.recipe;
  let cleanup = async (): Promise<void> => undefined;
  if (ctx.input.endsWith('.dsc')) {
    const staged = await stageSourcePackage(sourceDir);
    sourceDir = staged.dir;
    cleanup = staged.cleanup;
    const { command: _command, env: _env, ...rest } = opts.recipe;
    recipe = { ...rest, kind: 'dpkg', dsc: staged.dsc };
  }
  try {
    ctx.stage('connecting');
    const r = await runRemote({
      mode: 'build',
      target: opts.target,
      sourceDir,
      outDir: ctx.outDir,
      recipe,
      signal: ctx.signal,
      onQueued: (q) => ctx.stage(`queued (${q.position} ahead)`),
      onEvent: (e) => {
        if (e.kind === 'stage') ctx.stage(e.stage);
      },
      onProgress: (p) => ctx.stage(p.phase === 'upload' ? 'sending' : 'receiving'),
    });
    return { ok: r.ok, status: r.status, exitCode: r.exitCode, message: r.message, artifacts: r.manifest?.artifacts.length ?? null, outDir: r.outDir, logPath: r.logPath };
  } finally {
    await cleanup();
  }
}

export function runRemoteMany(inputs: readonly string[], opts: RemoteManyOptions): Promise<number> {
  return runBatch(inputs, { outRoot: opts.outRoot, jobs: opts.jobs, json: opts.json, quiet: opts.quiet, command: 'detbuild remote' }, (ctx) => buildOne(ctx, opts));
}
