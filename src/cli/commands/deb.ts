/** `detbuild deb FILE.dsc --out OUT_DIR [...]`: a Debian source package through the dpkg recipe. */
import path from 'node:path';
import { prepareDpkgBuild } from '../../recipes/dpkg.js';
import { RecipeError } from '../../recipes/errors.js';
import { describeError } from '../../errors.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { ENGINE_OPTIONS, HELP_OPTION, JOBS_OPTION, engineChoices, helpText, commandLine, required, parseJobs } from '../options.js';
import { runLocally } from '../run-local.js';
import { allowedCpus } from '../../engine/index.js';
import { runLocalMany } from '../batch/local-many.js';
import { exitCodeOfError } from '../../outcome.js';

export const DEB_USAGE = `usage: detbuild deb FILE.dsc... --out OUT_DIR [--epoch SECONDS] [--seed HEX] [--time-step SECONDS]
                    [--timeout SECONDS] [--nocheck] [--with-source] [--plain] [--json] [--quiet]
                    [--jobs N]   (several .dsc: side by side, one CPU each, OUT_DIR/NAME per build)`;

const DEB_OPTIONS = {
  ...ENGINE_OPTIONS,
  nocheck: { type: 'boolean', help: "skip the package's tests (DEB_BUILD_OPTIONS=nocheck)" },
  'with-source': { type: 'boolean', help: 'the .buildinfo and .changes of a full upload: they also list the .dsc and its files as given' },
  ...JOBS_OPTION,
  ...HELP_OPTION,
} as const;

export const DEB_HELP = helpText(
  DEB_USAGE,
  `Builds a Debian source package (the .dsc and the files it lists) with dpkg-buildpackage -us -uc -b
under the engine; the .debs, .buildinfo and .changes are kept in OUT_DIR/artifacts.`,
  DEB_OPTIONS,
);

export async function runDebCommand(argv: string[]): Promise<number> {
  const parsed = commandLine(argv, DEB_OPTIONS, DEB_HELP);
  if (!parsed) return EXIT.ok;
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw new UsageError(`expected a FILE.dsc\n${DEB_USAGE}`);
  const out = required(values.out, '--out OUT_DIR', DEB_USAGE);
  const choices = engineChoices(values);
  const jobs = parseJobs(values.jobs, (await allowedCpus()).length, positionals.length);
  if (positionals.length > 1) {
    return runLocalMany(positionals, {
      outRoot: out,
      jobs,
      json: values.json,
      quiet: values.quiet,
      command: 'detbuild deb',
      prepare: async (input) => {
        const p = await prepareDpkgBuild(path.resolve(input), { ...choices, nocheck: values.nocheck === true });
        return { spec: p.spec, recipe: { kind: 'dpkg', dsc: path.basename(p.dsc.path), nocheck: values.nocheck === true }, cleanup: p.cleanup };
      },
      prepareExit: exitCodeOfError,
    });
  }

  let prepared;
  try {
    prepared = await prepareDpkgBuild(path.resolve(positionals[0]!), { ...choices, nocheck: values.nocheck === true, withSource: values['with-source'] === true });
  } catch (err) {
    process.stderr.write(`detbuild: ${describeError(err)}\n`);
    if (err instanceof RecipeError) return exitCodeOfError(err);
    throw err;
  }
  try {
    return await runLocally(prepared.spec, {
      outDir: out,
      quiet: values.quiet,
      json: values.json,
      jsonExtra: { source: prepared.dsc.source, version: prepared.dsc.version },
      label: `${prepared.dsc.source} ${prepared.dsc.version}`,
      recipe: { kind: 'dpkg', dsc: path.basename(prepared.dsc.path), nocheck: values.nocheck === true },
    });
  } finally {
    await prepared.cleanup();
  }
}
