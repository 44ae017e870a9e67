/** `detbuild deb FILE.dsc --out OUT_DIR [...]`: a Debian source package through the dpkg recipe. */
import path from 'node:path';
import { runBuild } from '../engine/index.js';
import { prepareDpkgBuild } from '../recipes/dpkg.js';
import { RecipeError } from '../recipes/errors.js';
import { describeError } from '../errors.js';
import { EXIT, UsageError } from './exit-codes.js';
import { STATUS_EXIT } from './build.js';
import { formatEvent } from './format.js';
import { ENGINE_OPTIONS, engineChoices, parseCommandLine } from './options.js';

export const DEB_USAGE = `usage: detbuild deb FILE.dsc --out OUT_DIR [--epoch SECONDS] [--seed HEX] [--time-step SECONDS]
                    [--timeout SECONDS] [--nocheck] [--plain] [--json] [--quiet]`;

export async function runDebCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, { ...ENGINE_OPTIONS, nocheck: { type: 'boolean' } } as const);
  if (positionals.length !== 1) throw new UsageError(`expected exactly one FILE.dsc\n${DEB_USAGE}`);
  if (!values.out) throw new UsageError(`--out OUT_DIR is required\n${DEB_USAGE}`);
  const choices = engineChoices(values);

  let prepared;
  try {
    prepared = await prepareDpkgBuild(path.resolve(positionals[0]!), { ...choices, nocheck: values.nocheck === true });
  } catch (err) {
    process.stderr.write(`detbuild: ${describeError(err)}\n`);
    if (err instanceof RecipeError) return err.badInput ? EXIT.badInput : EXIT.engine;
    throw err;
  }
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await runBuild(prepared.spec, {
      outDir: values.out,
      signal: controller.signal,
      onEvent: values.quiet
        ? undefined
        : (e) => {
            const line = formatEvent(e);
            if (line !== null) process.stderr.write(`${line}\n`);
          },
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ ...result, stats: undefined, source: prepared.dsc.source, version: prepared.dsc.version }, null, 2)}\n`);
    } else if (result.ok && result.manifest) {
      for (const a of result.manifest.artifacts) process.stdout.write(`${a.sha256}  ${a.path}\n`);
      process.stdout.write(`${path.join(result.outDir!, 'manifest.json')}\n`);
    }
    if (!result.ok) {
      const where = result.logPath ? ` (log: ${result.logPath})` : '';
      process.stderr.write(`detbuild: ${prepared.dsc.source} ${prepared.dsc.version}: ${result.message}${where}\n`);
      if (result.status === 'error' && result.badInput) return EXIT.badInput;
    }
    return STATUS_EXIT[result.status];
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await prepared.cleanup();
  }
}
