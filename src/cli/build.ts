/** `detbuild build SRC_DIR --out OUT_DIR [...]`: argv in, engine call, summary out. */
import path from 'node:path';
import { defaultSpecFor } from '../engine/index.js';
import { EXIT, UsageError } from './exit-codes.js';
import { COMMAND_OPTION, ENGINE_OPTIONS, HELP_OPTION, engineChoices, helpText, parseCommandLine } from './options.js';
import { runLocally } from './run-local.js';

export const BUILD_USAGE = `usage: detbuild build SRC_DIR --out OUT_DIR [--command CMD] [--epoch SECONDS]
                      [--seed HEX] [--time-step SECONDS] [--timeout SECONDS] [--plain] [--json] [--quiet]`;

const BUILD_OPTIONS = { ...COMMAND_OPTION, ...ENGINE_OPTIONS, ...HELP_OPTION } as const;

export const BUILD_HELP = helpText(
  BUILD_USAGE,
  `Runs the build command in a copy of SRC_DIR under the determinism engine; what it writes
under $DETBUILD_OUT is kept in OUT_DIR/artifacts, with manifest.json and build.log.`,
  BUILD_OPTIONS,
);

export async function runBuildCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, BUILD_OPTIONS);
  if (values.help) {
    process.stdout.write(`${BUILD_HELP}\n`);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError(`expected exactly one SRC_DIR\n${BUILD_USAGE}`);
  if (!values.out) throw new UsageError(`--out OUT_DIR is required\n${BUILD_USAGE}`);
  const choices = engineChoices(values);

  let resolved;
  try {
    resolved = await defaultSpecFor(path.resolve(positionals[0]!), {
      ...(values.command !== undefined ? { command: values.command } : {}),
      ...choices,
    });
  } catch (err) {
    process.stderr.write(`detbuild: ${(err as Error).message}\n`);
    return EXIT.badInput;
  }
  return runLocally(resolved.spec, { outDir: values.out, quiet: values.quiet, json: values.json });
}
