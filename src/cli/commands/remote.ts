/**
 * `detbuild remote`: argv in, src/client out, printing through ../format.ts.
 *
 *   detbuild remote SRC_DIR --target QUBE --out OUT_DIR [--verify] [build options]
 *   detbuild remote INPUT... --out OUT_DIR [--jobs N]   (../batch/remote-many.ts)
 *   detbuild remote --info --target QUBE [--json]
 */
import path from 'node:path';
import { runRemote, type RemoteMode, type RemoteResult } from '../../client/remote.js';
import type { Recipe } from '../../protocol/messages.js';
import { runRemoteMany } from '../batch/remote-many.js';
import { cancellable } from '../cancel.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { TransferLine, clock, eventPrinter, printArtifacts, printFailure, printJson, printRecord } from '../format.js';
import { COMMAND_OPTION, ENGINE_OPTIONS, HELP_OPTION, JOBS_OPTION, commandLine, engineChoices, helpText, parseJobs } from '../options.js';
import { SHA256_RULE, isSha256 } from '../../sha256.js';

export const REMOTE_USAGE = `usage: detbuild remote SRC_DIR --out OUT_DIR [--target QUBE] [--verify]
                       [--command CMD] [--epoch SECONDS] [--seed HEX] [--time-step SECONDS]
                       [--timeout SECONDS] [--plain] [--json] [--quiet]
                       [--dsc NAME.dsc [--nocheck] [--with-source]] [--require-environment SHA256]
       detbuild remote INPUT... --out OUT_DIR [--jobs N] [--target QUBE] [build options]
       detbuild remote --info [--target QUBE] [--json]`;

const REMOTE_OPTIONS = {
  target: { type: 'string', short: 't', arg: 'QUBE', help: 'the builder: a qube name, or @dispvm:detbuild-dvm for a fresh disposable per build (default: builder)' },
  verify: { type: 'boolean', help: 'build twice there under different conditions; keep the artifacts only if both builds are identical' },
  info: { type: 'boolean', help: "print the builder's environment record instead of building" },
  ...COMMAND_OPTION,
  ...ENGINE_OPTIONS,
  dsc: { type: 'string', arg: 'NAME.dsc', help: 'SRC_DIR holds a Debian source package: build NAME.dsc with dpkg-buildpackage -b there (the dpkg recipe)' },
  'with-source': { type: 'boolean', help: 'with --dsc: the .changes and .buildinfo list the source package too' },
  srpm: { type: 'string', arg: 'NAME.src.rpm', help: 'SRC_DIR holds a source RPM: rebuild it with rpmbuild -ra there' },
  spec: { type: 'string', arg: 'SPEC', help: 'SRC_DIR is a source tree with SPEC (e.g. rpm_spec/NAME.spec.in): make the .src.rpm there, then rebuild it' },
  nocheck: { type: 'boolean', help: "with --dsc, --srpm or --spec: skip the package's tests" },
  'require-environment': { type: 'string', arg: 'SHA256', help: "the builder refuses the build unless its environment record's environmentSha256 is this one" },
  jobs: { ...JOBS_OPTION.jobs, help: 'several inputs: how many build at once (default 4)' },
  ...HELP_OPTION,
} as const;

export const REMOTE_HELP = `${helpText(
  REMOTE_USAGE,
  `Sends SRC_DIR to a builder qube through qrexec (qubes.DetBuild), builds it there under the engine
and receives the artifacts, checked against their hashes, into OUT_DIR. Several INPUTs (source
directories or FILE.dsc) are each built in their own call (with the default target
@dispvm:detbuild-dvm, each in its own disposable), --jobs at once, into OUT_DIR/NAME, with a live
line per build and a summary table. --json prints the summary on stdout; the live log stays on stderr.`,
  REMOTE_OPTIONS,
)}

exit status: 0 success, 2 usage, 3 request refused, 4 build failed, 5 timeout,
  6 output limit, 7 builder error, 8 cancelled, 9 not reproducible,
  10 transport error, 11 refused by qrexec policy, 12 artifact failed verification`;

type RemoteValues = NonNullable<ReturnType<typeof commandLine<typeof REMOTE_OPTIONS>>>['values'];

function usage(message: string): UsageError {
  return new UsageError(`${message}\n${REMOTE_USAGE}`);
}

/** The recipe the request carries: the engine's choices as the wire spells them, and the package recipe. */
function requestRecipe(values: RemoteValues): Recipe {
  const choices = engineChoices(values);
  const recipe: Recipe = {};
  if (values.command !== undefined) recipe.command = values.command;
  if (choices.epoch !== undefined) recipe.epoch = choices.epoch;
  if (choices.seed !== undefined) recipe.seed = choices.seed;
  if (choices.timeStepNs !== undefined) recipe.timeStepNs = Number(choices.timeStepNs);
  if (choices.limits) recipe.limits = choices.limits;
  if (choices.mode === 'plain') recipe.mode = 'plain';
  const kinds = [values.dsc, values.srpm, values.spec, values.command].filter((v) => v !== undefined).length;
  if (kinds > 1) throw usage('--dsc, --srpm, --spec and --command exclude each other');
  if (values.dsc !== undefined) {
    recipe.kind = 'dpkg';
    recipe.dsc = values.dsc;
    if (values['with-source']) recipe.withSource = true;
  } else if (values.srpm !== undefined || values.spec !== undefined) {
    recipe.kind = 'rpm';
    if (values.srpm !== undefined) recipe.srpm = values.srpm;
    if (values.spec !== undefined) recipe.spec = values.spec;
  } else if (values.nocheck) {
    throw usage('--nocheck belongs to --dsc, --srpm or --spec');
  }
  if (values['with-source'] && values.dsc === undefined) throw usage('--with-source belongs to --dsc');
  if (values['require-environment'] !== undefined) {
    if (!isSha256(values['require-environment'])) throw usage(`--require-environment: expected ${SHA256_RULE}`);
    recipe.requireEnvironment = values['require-environment'];
  }
  if (values.nocheck) recipe.nocheck = true;
  return recipe;
}

/** The --json summary of one remote call. */
function summary(r: RemoteResult): Record<string, unknown> {
  return {
    status: r.status,
    ok: r.ok,
    exitCode: r.exitCode,
    message: r.message,
    target: r.target,
    mode: r.mode,
    outDir: r.outDir,
    logPath: r.logPath,
    build: r.remote?.build ?? null,
    artifacts: r.manifest?.artifacts ?? [],
    record: r.record ? { sha256: r.record.sha256, environmentSha256: r.record.environmentSha256 } : null,
    verify: r.verify ? { identical: r.verify.identical, differences: r.verify.differences.map((d) => d.path) } : null,
    qrexecExitCode: r.qrexecExitCode,
  };
}

export async function runRemoteCommand(argv: string[]): Promise<number> {
  const parsed = commandLine(argv, REMOTE_OPTIONS, REMOTE_HELP);
  if (!parsed) return EXIT.ok;
  const { values, positionals } = parsed;
  const many = positionals.length > 1;
  const target = values.target ?? (many ? '@dispvm:detbuild-dvm' : 'builder');
  const mode: RemoteMode = values.info ? 'info' : values.verify ? 'verify' : 'build';
  if (mode === 'info' && (positionals.length > 0 || values.out)) throw usage('--info takes no SRC_DIR and no --out');
  if (mode !== 'info') {
    if (positionals.length === 0) throw usage('expected a SRC_DIR');
    if (many && (mode !== 'build' || values.dsc !== undefined)) throw usage('several inputs are built with build only: no --verify, and FILE.dsc inputs instead of --dsc');
    if (!values.out) throw usage('--out OUT_DIR is required');
  }
  const recipe = requestRecipe(values);
  const jobs = parseJobs(values.jobs, 4, positionals.length);
  if (many) return runRemoteMany(positionals, { target, recipe, outRoot: path.resolve(values.out!), jobs, json: values.json, quiet: values.quiet });

  const quiet = Boolean(values.quiet);
  const transfer = new TransferLine(Boolean(process.stderr.isTTY) && !quiet);
  const showEvent = eventPrinter(quiet, () => transfer.clear());
  let result: RemoteResult;
  try {
    result = await cancellable((signal) =>
      runRemote({
        mode,
        target,
        sourceDir: positionals[0] ? path.resolve(positionals[0]) : undefined,
        outDir: values.out ? path.resolve(values.out) : undefined,
        recipe,
        signal,
        onEvent: showEvent,
        onQueued: quiet ? undefined : (q) => process.stderr.write(`${clock()} [queued] build ${q.id} waits behind ${q.position} other build(s) in ${target}\n`),
        onProgress: quiet ? undefined : (p) => transfer.update(p),
        onRemoteStderr: (line) => {
          transfer.clear();
          process.stderr.write(`${line}\n`);
        },
      }),
    );
  } finally {
    transfer.clear();
  }

  if (values.json) printJson(mode === 'info' && result.record ? { ...summary(result), environment: result.record } : summary(result));
  else if (result.ok && mode === 'info' && result.record) printRecord(result.record, false);
  else if (result.ok && result.manifest) printArtifacts(result.manifest, result.outDir!);
  if (!result.ok) printFailure('detbuild remote', `${result.status}: ${result.message}`, result.logPath);
  return result.exitCode;
}
