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
import { UsageError } from '../exit-codes.js';
import { formatEvent } from '../format.js';
import { ENGINE_OPTIONS, engineChoices, parseCommandLine } from '../options.js';
import { runLocally } from '../run-local.js';
import { exitCodeOfError, exitCodeOfResult } from '../../outcome.js';
import { onInterrupt } from '../cancel.js';

export const RPM_USAGE = `usage: detbuild rpm FILE.src.rpm --out OUT_DIR [--epoch SECONDS] [--seed HEX] [--time-step SECONDS]
                    [--timeout SECONDS] [--nocheck] [--dep-map FILE] [--plain] [--json] [--quiet]
       detbuild rpm --spec SPEC SRC_DIR --out OUT_DIR [same options]`;

export async function runRpmCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    ...ENGINE_OPTIONS,
    nocheck: { type: 'boolean' },
    spec: { type: 'string' },
    'dep-map': { type: 'string' },
  } as const);
  const what = values.spec !== undefined ? 'SRC_DIR' : 'FILE.src.rpm';
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${what}\n${RPM_USAGE}`);
  if (!values.out) throw new UsageError(`--out OUT_DIR is required\n${RPM_USAGE}`);
  const choices: RpmChoices = {
    ...engineChoices(values),
    nocheck: values.nocheck === true,
    ...(values['dep-map'] !== undefined ? { deps: { depMapFile: path.resolve(values['dep-map']) } } : {}),
  };
  const outDir = path.resolve(values.out);

  let prepared: RpmBuild;
  try {
    if (values.spec === undefined) {
      prepared = await prepareRpmBuild(path.resolve(positionals[0]!), choices);
    } else {
      // the first phase (the .src.rpm) runs here; Ctrl-C cancels it as runLocally does the rebuild
      const interrupt = onInterrupt();
      try {
        prepared = await prepareRpmSpecBuild(
          values.spec,
          path.resolve(positionals[0]!),
          choices,
          (spec, phaseOut) =>
            runBuild(spec, {
              outDir: phaseOut,
              signal: interrupt.signal,
              onEvent: values.quiet
                ? undefined
                : (e) => {
                    const line = formatEvent(e);
                    if (line !== null) process.stderr.write(`${line}\n`);
                  },
            }),
          { failedLog: failedLogPath(outDir) },
        );
      } finally {
        interrupt.release();
      }
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
