/** `detbuild build SRC_DIR --out OUT_DIR [...]`: argv in, engine call, summary out. */
import path from 'node:path';
import { defaultSpecFor, runBuild, type BuildStatus } from '../engine/index.js';
import { EXIT, UsageError } from './exit-codes.js';
import { formatEvent } from './format.js';
import { ENGINE_OPTIONS, engineChoices, parseCommandLine } from './options.js';

export const BUILD_USAGE = `usage: detbuild build SRC_DIR --out OUT_DIR [--command CMD] [--epoch SECONDS]
                      [--seed HEX] [--time-step SECONDS] [--timeout SECONDS] [--plain] [--json] [--quiet]`;

export const STATUS_EXIT: Record<BuildStatus, number> = {
  success: EXIT.ok,
  failed: EXIT.buildFailed,
  timeout: EXIT.timeout,
  'output-limit': EXIT.outputLimit,
  cancelled: EXIT.cancelled,
  error: EXIT.engine,
};

export async function runBuildCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, { ...ENGINE_OPTIONS, command: { type: 'string', short: 'c' } } as const);
  if (positionals.length !== 1) throw new UsageError(`expected exactly one SRC_DIR\n${BUILD_USAGE}`);
  if (!values.out) throw new UsageError(`--out OUT_DIR is required\n${BUILD_USAGE}`);
  const choices = engineChoices(values);

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
        ...choices,
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
