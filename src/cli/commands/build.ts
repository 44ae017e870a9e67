/** `detbuild build SRC_DIR --out OUT_DIR [...]`: argv in, engine call, summary out. */
import path from 'node:path';
import { defaultSpecFor } from '../../engine/index.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { COMMAND_OPTION, ENGINE_OPTIONS, HELP_OPTION, JOBS_OPTION, engineChoices, helpText, commandLine, required, parseJobs } from '../options.js';
import { runLocally } from '../run-local.js';
import { allowedCpus } from '../../engine/index.js';
import { runLocalMany } from '../batch/local-many.js';
import { exitCodeOfError } from '../../outcome.js';

export const BUILD_USAGE = `usage: detbuild build SRC_DIR... --out OUT_DIR [--command CMD] [--epoch SECONDS]
                      [--seed HEX] [--time-step SECONDS] [--timeout SECONDS] [--plain] [--json] [--quiet]
                      [--jobs N]   (several SRC_DIRs: side by side, one CPU each, OUT_DIR/NAME per build)`;

const BUILD_OPTIONS = { ...COMMAND_OPTION, ...ENGINE_OPTIONS, ...JOBS_OPTION, ...HELP_OPTION } as const;

export const BUILD_HELP = helpText(
  BUILD_USAGE,
  `Runs the build command in a copy of SRC_DIR under the determinism engine; what it writes
under $DETBUILD_OUT is kept in OUT_DIR/artifacts, with manifest.json, build.log and the record files.
Several SRC_DIRs build side by side, one CPU each, into OUT_DIR/NAME (docs/REBUILD.md).`,
  BUILD_OPTIONS,
);

export async function runBuildCommand(argv: string[]): Promise<number> {
  const parsed = commandLine(argv, BUILD_OPTIONS, BUILD_HELP);
  if (!parsed) return EXIT.ok;
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw new UsageError(`expected a SRC_DIR\n${BUILD_USAGE}`);
  const out = required(values.out, '--out OUT_DIR', BUILD_USAGE);
  const choices = engineChoices(values);
  const jobs = parseJobs(values.jobs, (await allowedCpus()).length, positionals.length);
  const specChoices = { ...(values.command !== undefined ? { command: values.command } : {}), ...choices };
  if (positionals.length > 1) {
    return runLocalMany(positionals, {
      outRoot: out,
      jobs,
      json: values.json,
      quiet: values.quiet,
      command: 'detbuild build',
      prepare: async (input) => ({ ...(await defaultSpecFor(path.resolve(input), specChoices)), recipe: { kind: 'command' } }),
      prepareExit: exitCodeOfError,
    });
  }

  let resolved;
  try {
    resolved = await defaultSpecFor(path.resolve(positionals[0]!), specChoices);
  } catch (err) {
    process.stderr.write(`detbuild: ${(err as Error).message}\n`);
    return exitCodeOfError(err);
  }
  return runLocally(resolved.spec, { outDir: out, quiet: values.quiet, json: values.json });
}
