/** `detbuild deb FILE.dsc --out OUT_DIR [...]`: a Debian source package through the dpkg recipe. */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { runBuild } from '../engine/index.js';
import { prepareDpkgBuild } from '../recipes/dpkg.js';
import { RecipeError } from '../recipes/errors.js';
import { describeError } from '../errors.js';
import { EXIT, UsageError } from './exit-codes.js';
import { STATUS_EXIT } from './build.js';
import { formatEvent } from './format.js';

export const DEB_USAGE = `usage: detbuild deb FILE.dsc --out OUT_DIR [--epoch SECONDS] [--seed HEX] [--time-step SECONDS]
                    [--timeout SECONDS] [--nocheck] [--plain] [--json] [--quiet]`;

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value)) throw new UsageError(`--${name}: expected a non-negative number, got '${value}'`);
  return Number(value);
}

export async function runDebCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: 'string', short: 'o' },
        epoch: { type: 'string' },
        seed: { type: 'string' },
        'time-step': { type: 'string' },
        timeout: { type: 'string' },
        nocheck: { type: 'boolean' },
        plain: { type: 'boolean' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError(`expected exactly one FILE.dsc\n${DEB_USAGE}`);
  if (!values.out) throw new UsageError(`--out OUT_DIR is required\n${DEB_USAGE}`);
  const epoch = number('epoch', values.epoch);
  if (epoch !== undefined && !Number.isSafeInteger(epoch)) throw new UsageError('--epoch: expected an integer');
  const stepS = number('time-step', values['time-step']);
  if (stepS !== undefined && stepS <= 0) throw new UsageError('--time-step must be more than 0');
  const timeoutS = number('timeout', values.timeout);
  if (values.seed !== undefined && !/^[0-9a-f]{16,128}$/.test(values.seed)) throw new UsageError('--seed: expected 16 to 128 lowercase hex digits');

  let prepared;
  try {
    prepared = await prepareDpkgBuild(path.resolve(positionals[0]!), {
      mode: values.plain ? 'plain' : 'deterministic',
      ...(epoch !== undefined ? { epoch } : {}),
      ...(values.seed !== undefined ? { seed: values.seed } : {}),
      ...(stepS !== undefined ? { timeStepNs: BigInt(Math.round(stepS * 1e9)) } : {}),
      ...(timeoutS !== undefined ? { limits: { timeoutMs: Math.max(1, Math.round(timeoutS * 1000)) } } : {}),
      nocheck: values.nocheck === true,
    });
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
