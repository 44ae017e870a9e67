/** `detbuild deb FILE.dsc --out OUT_DIR [...]`: a Debian source package through the dpkg recipe. */
import path from 'node:path';
import { prepareDpkgBuild } from '../recipes/dpkg.js';
import { RecipeError } from '../recipes/errors.js';
import { describeError } from '../errors.js';
import { EXIT, UsageError } from './exit-codes.js';
import { ENGINE_OPTIONS, HELP_OPTION, engineChoices, helpText, parseCommandLine } from './options.js';
import { runLocally } from './run-local.js';

export const DEB_USAGE = `usage: detbuild deb FILE.dsc --out OUT_DIR [--epoch SECONDS] [--seed HEX] [--time-step SECONDS]
                    [--timeout SECONDS] [--nocheck] [--plain] [--json] [--quiet]`;

const DEB_OPTIONS = { ...ENGINE_OPTIONS, nocheck: { type: 'boolean', help: "skip the package's tests (DEB_BUILD_OPTIONS=nocheck)" }, ...HELP_OPTION } as const;

export const DEB_HELP = helpText(
  DEB_USAGE,
  `Builds a Debian source package (the .dsc and the files it lists) with dpkg-buildpackage -us -uc -b
under the engine; the .debs, .buildinfo and .changes are kept in OUT_DIR/artifacts.`,
  DEB_OPTIONS,
);

export async function runDebCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, DEB_OPTIONS);
  if (values.help) {
    process.stdout.write(`${DEB_HELP}\n`);
    return EXIT.ok;
  }
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
  try {
    return await runLocally(prepared.spec, {
      outDir: values.out,
      quiet: values.quiet,
      json: values.json,
      jsonExtra: { source: prepared.dsc.source, version: prepared.dsc.version },
      label: `${prepared.dsc.source} ${prepared.dsc.version}`,
    });
  } finally {
    await prepared.cleanup();
  }
}
