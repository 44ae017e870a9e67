/** `detbuild build SRC_DIR --out OUT_DIR [...]`: argv in, engine call, summary out. */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { defaultSpecFor, runBuild, type BuildStatus } from '../engine/index.js';
import { EXIT, UsageError } from './exit-codes.js';
import { formatEvent } from './format.js';

export const BUILD_USAGE = `usage: detbuild build SRC_DIR --out OUT_DIR [--command CMD] [--epoch SECONDS]
                      [--seed HEX] [--time-step SECONDS] [--timeout SECONDS] [--plain] [--json] [--quiet]`;

function parseNumber(name: string, value: string | undefined, opts: { integer: boolean }): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n) || (opts.integer && !Number.isSafeInteger(n))) {
    throw new UsageError(`--${name}: expected a non-negative ${opts.integer ? 'integer' : 'number'}, got '${value}'`);
  }
  return n;
}

export const STATUS_EXIT: Record<BuildStatus, number> = {
  success: EXIT.ok,
  failed: EXIT.buildFailed,
  timeout: EXIT.timeout,
  'output-limit': EXIT.outputLimit,
  cancelled: EXIT.cancelled,
  error: EXIT.engine,
};

export async function runBuildCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: 'string', short: 'o' },
        command: { type: 'string', short: 'c' },
        epoch: { type: 'string' },
        seed: { type: 'string' },
        'time-step': { type: 'string' },
        timeout: { type: 'string' },
        plain: { type: 'boolean' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError(`expected exactly one SRC_DIR\n${BUILD_USAGE}`);
  if (!values.out) throw new UsageError(`--out OUT_DIR is required\n${BUILD_USAGE}`);
  const epoch = parseNumber('epoch', values.epoch, { integer: true });
  const stepS = parseNumber('time-step', values['time-step'], { integer: false });
  const timeoutS = parseNumber('timeout', values.timeout, { integer: false });
  if (values.seed !== undefined && !/^[0-9a-f]{16,128}$/.test(values.seed)) {
    throw new UsageError('--seed: expected 16 to 128 lowercase hex digits');
  }
  if (stepS !== undefined && stepS <= 0) throw new UsageError('--time-step must be more than 0');

  const srcDir = path.resolve(positionals[0]!);
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let resolved;
    try {
      resolved = await defaultSpecFor(srcDir, {
        ...(values.command !== undefined ? { command: values.command } : {}),
        ...(epoch !== undefined ? { epoch } : {}),
        ...(values.seed !== undefined ? { seed: values.seed } : {}),
        ...(stepS !== undefined ? { timeStepNs: BigInt(Math.round(stepS * 1e9)) } : {}),
        ...(timeoutS !== undefined ? { limits: { timeoutMs: Math.max(1, Math.round(timeoutS * 1000)) } } : {}),
        mode: values.plain ? 'plain' : 'deterministic',
      });
    } catch (err) {
      process.stderr.write(`detbuild: ${(err as Error).message}\n`);
      return EXIT.badInput;
    }
    const result = await runBuild(resolved.spec, {
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
      process.stdout.write(`${JSON.stringify({ ...result, stats: undefined }, null, 2)}\n`);
    } else if (result.ok && result.manifest) {
      for (const a of result.manifest.artifacts) process.stdout.write(`${a.sha256}  ${a.path}\n`);
      process.stdout.write(`${path.join(result.outDir!, 'manifest.json')}\n`);
    }
    if (!result.ok) {
      const where = result.logPath ? ` (log: ${result.logPath})` : '';
      process.stderr.write(`detbuild: ${result.message}${where}\n`);
      if (result.status === 'error' && result.badInput) return EXIT.badInput;
    }
    return STATUS_EXIT[result.status];
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
