/**
 * `detbuild rpm FILE.src.rpm --out OUT_DIR [...]`: a source RPM through the rpm recipe;
 * `detbuild rpm --spec SPEC SRC_DIR --out OUT_DIR [...]`: a source tree with a spec (a
 * Qubes component's rpm_spec/NAME.spec.in), made into a .src.rpm under the engine first.
 */
import path from 'node:path';
import { runBuild } from '../../engine/index.js';
import { failedLogPath } from '../../engine/publish.js';
import { prepareRpmBuild, type RpmBuild, type RpmChoices } from '../../recipes/rpm.js';
import { prepareRpmSpecBuild, RpmSourceBuildError } from '../../recipes/rpm-spec.js';
import { RecipeError } from '../../recipes/errors.js';
import { srpmLabel } from '../../recipes/srpm.js';
import { describeError } from '../../errors.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { eventPrinter } from '../format.js';
import { ENGINE_OPTIONS, HELP_OPTION, commandLine, engineChoices, helpText, required } from '../options.js';
import { runLocally } from '../run-local.js';
import { exitCodeOfError, exitCodeOfResult } from '../../outcome.js';
import { cancellable } from '../cancel.js';

export const RPM_USAGE = `usage: detbuild rpm FILE.src.rpm --out OUT_DIR [--epoch SECONDS] [--seed HEX] [--time-step SECONDS]
                    [--timeout SECONDS] [--nocheck] [--dep-map FILE] [--plain] [--json] [--quiet]
       detbuild rpm --spec SPEC SRC_DIR --out OUT_DIR [same options]`;

const RPM_OPTIONS = {
  ...ENGINE_OPTIONS,
  spec: { type: 'string', arg: 'SPEC', help: 'the positional is a source tree with SPEC (e.g. rpm_spec/NAME.spec.in): its .src.rpm is made under the engine first' },
  nocheck: { type: 'boolean', help: "skip the package's %check (--nocheck)" },
  'dep-map': { type: 'string', arg: 'FILE', help: 'on a Debian builder: the map of Fedora names to Debian packages (default /etc/qubes-detbuild/rpm-deps.map; docs/RPM.md)' },
  ...HELP_OPTION,
} as const;

export const RPM_HELP = helpText(
  RPM_USAGE,
  `Rebuilds a source RPM with rpmbuild -ra under the engine (or, with --spec, first makes the
.src.rpm of a source tree under the engine); the RPMs are kept in OUT_DIR/artifacts.`,
  RPM_OPTIONS,
);

export async function runRpmCommand(argv: string[]): Promise<number> {
  const parsed = commandLine(argv, RPM_OPTIONS, RPM_HELP);
  if (!parsed) return EXIT.ok;
  const { values, positionals } = parsed;
  const what = values.spec !== undefined ? 'SRC_DIR' : 'FILE.src.rpm';
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${what}\n${RPM_USAGE}`);
  const outDir = path.resolve(required(values.out, '--out OUT_DIR', RPM_USAGE));
  const choices: RpmChoices = {
    ...engineChoices(values),
    nocheck: values.nocheck === true,
    ...(values['dep-map'] !== undefined ? { deps: { depMapFile: path.resolve(values['dep-map']) } } : {}),
  };

  let prepared: RpmBuild;
  try {
    if (values.spec === undefined) {
      prepared = await prepareRpmBuild(path.resolve(positionals[0]!), choices);
    } else {
      // the first phase (the .src.rpm) runs here; Ctrl-C cancels it as runLocally does the rebuild
      prepared = await cancellable((signal) =>
        prepareRpmSpecBuild(
          values.spec!,
          path.resolve(positionals[0]!),
          choices,
          (spec, phaseOut) => runBuild(spec, { outDir: phaseOut, signal, onEvent: eventPrinter(values.quiet) }),
          { failedLog: failedLogPath(outDir) },
        ),
      );
    }
  } catch (err) {
    process.stderr.write(`detbuild: ${describeError(err)}\n`);
    if (err instanceof RpmSourceBuildError) return exitCodeOfResult(err.result);
    if (err instanceof RecipeError) return exitCodeOfError(err);
    throw err;
  }
  try {
    return await runLocally(prepared.spec, {
      outDir,
      quiet: values.quiet,
      json: values.json,
      recipe: { kind: 'rpm', srpm: path.basename(prepared.srpm.path), nocheck: values.nocheck === true },
      jsonExtra: { source: prepared.srpm.name, version: prepared.srpm.version, release: prepared.srpm.release },
      label: srpmLabel(prepared.srpm),
    });
  } finally {
    await prepared.cleanup();
  }
}
