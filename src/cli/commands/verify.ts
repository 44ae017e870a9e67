/** `detbuild verify SRC_DIR [--out DIR] [...]`: argv in, verify call, a verdict out. */
import path from 'node:path';
import { defaultSpecFor } from '../../engine/index.js';
import { describeError } from '../../errors.js';
import { verifyBuild, type VerifyResult } from '../../verify/index.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { eventPrinter, printFailure, printJson } from '../format.js';
import { COMMAND_OPTION, ENGINE_OPTIONS, HELP_OPTION, engineChoices, helpText, commandLine } from '../options.js';
import { exitCodeOfError, exitCodeOfResult } from '../../outcome.js';
import { cancellable } from '../cancel.js';

export const VERIFY_USAGE = `usage: detbuild verify SRC_DIR [--out DIR] [--command CMD] [--epoch SECONDS] [--seed HEX]
                       [--time-step SECONDS] [--timeout SECONDS] [--plain] [--json] [--quiet]`;

const VERIFY_OPTIONS = {
  ...COMMAND_OPTION,
  ...ENGINE_OPTIONS,
  out: { type: 'string', short: 'o', arg: 'DIR', help: 'keep both results (DIR/a, DIR/b), verify.json and diffoscope.txt there; must not exist, or be empty' },
  ...HELP_OPTION,
} as const;

export const VERIFY_HELP = `${helpText(
  VERIFY_USAGE,
  `Builds SRC_DIR twice on this machine, the second time under deliberately different real
conditions (time, build path, user, umask, locale, time zone, CPUs, load, directory order,
environment, ASLR: the variations of reprotest), and says whether every artifact is the same.
When they differ, diffoscope explains how.`,
  VERIFY_OPTIONS,
)}

exit status: 0 identical, 9 the builds differ, 4 a build failed (5 timeout, 6 output limit,
  7 engine error, 8 cancelled), 3 bad input, 2 usage`;

/** How many lines of diffoscope's report the summary shows. */
const DIFFOSCOPE_LINES = 40;

export async function runVerifyCommand(argv: string[]): Promise<number> {
  const parsed = commandLine(argv, VERIFY_OPTIONS, VERIFY_HELP);
  if (!parsed) return EXIT.ok;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError(`expected exactly one SRC_DIR\n${VERIFY_USAGE}`);
  const choices = engineChoices(values);
  const show = eventPrinter(values.quiet);

  let resolved;
  try {
    resolved = await defaultSpecFor(path.resolve(positionals[0]!), {
      ...(values.command !== undefined ? { command: values.command } : {}),
      ...choices,
    });
  } catch (err) {
    process.stderr.write(`detbuild: ${describeError(err)}\n`);
    return exitCodeOfError(err);
  }

  let result: VerifyResult;
  try {
    result = await cancellable((signal) =>
      verifyBuild(resolved.spec, {
        ...(values.out !== undefined ? { outDir: values.out } : {}),
        signal,
        onEvent: (run, e) => show(e, run ?? undefined),
      }),
    );
  } catch (err) {
    process.stderr.write(`detbuild: ${describeError(err)}\n`);
    return exitCodeOfError(err);
  }

  if (values.json) printJson(result);
  else process.stdout.write(summary(result));

  switch (result.status) {
    case 'identical':
      return EXIT.ok;
    case 'differ':
      process.stderr.write(`detbuild: not reproducible: ${result.message}\n`);
      return EXIT.notReproducible;
    case 'build-failed': {
      const r = result.runs.find((x) => x.name === result.failedRun)?.result;
      printFailure('detbuild', result.message, result.logPath);
      if (!r) return EXIT.engine;
      return exitCodeOfResult(r);
    }
  }
}

function summary(r: VerifyResult): string {
  const out: string[] = ['variations (run A | run B):'];
  const width = Math.max(...r.variations.map((v) => v.name.length)) + 2;
  for (const v of r.variations) out.push(`  ${v.name.padEnd(width)}${v.skipped ? `not applied: ${v.skipped}` : `${v.a} | ${v.b}`}`);
  if (r.status === 'build-failed') return `${out.join('\n')}\n`;
  const a = r.runs[0]?.result?.manifest;
  if (r.status === 'identical') {
    out.push(`identical: ${r.message}`);
    for (const x of a?.artifacts ?? []) out.push(`${x.sha256}  ${x.path}`);
  } else {
    out.push(`DIFFERENT: ${r.message}`);
    for (const d of r.differences) out.push(`  ${d.path}: ${d.a ? d.a.sha256.slice(0, 16) : '(absent)'} | ${d.b ? d.b.sha256.slice(0, 16) : '(absent)'}`);
    if (r.manifestDifferences.length) out.push(`  manifest fields: ${r.manifestDifferences.join(', ')}`);
    if (r.diffoscope !== null) {
      const lines = r.diffoscope.split('\n');
      const where = r.outDir ? `the whole report: ${path.join(r.outDir, 'diffoscope.txt')}` : 'keep the whole report with --out DIR';
      out.push(`diffoscope (${Math.min(lines.length, DIFFOSCOPE_LINES)} of ${lines.length} lines; ${where}):`);
      out.push(...lines.slice(0, DIFFOSCOPE_LINES).map((l) => `  ${l}`));
    } else if (r.differences.length) {
      out.push('(diffoscope is not installed: install diffoscope-minimal to see how they differ)');
    }
  }
  if (r.outDir) out.push(`results: ${r.outDir} (a/, b/, verify.json)`);
  return `${out.join('\n')}\n`;
}
