/** `detbuild info [--target QUBE] [--json]`: this machine's environment record, or a builder qube's. */
import { describeError } from '../../errors.js';
import { collectEnvironmentRecord } from '../../record/collect.js';
import { EXIT } from '../exit-codes.js';
import { printRecord } from '../format.js';
import { HELP_OPTION, commandLine, helpText } from '../options.js';
import { runRemoteCommand } from './remote.js';

export const INFO_USAGE = 'usage: detbuild info [--target QUBE] [--json]';

const INFO_OPTIONS = {
  target: { type: 'string', short: 't', arg: 'QUBE', help: "the builder qube whose record to print (as detbuild remote --info does); default: this machine's" },
  json: { type: 'boolean', help: 'the record as JSON (default: its .buildinfo-style text)' },
  ...HELP_OPTION,
} as const;

export const INFO_HELP = helpText(INFO_USAGE, 'Prints the build environment record of this machine, or of the builder qube QUBE.', INFO_OPTIONS);

export async function runInfoCommand(argv: string[]): Promise<number> {
  const parsed = commandLine(argv, INFO_OPTIONS, INFO_HELP);
  if (!parsed) return EXIT.ok;
  const { values } = parsed;
  if (values.target) return runRemoteCommand(['--info', '--target', values.target, ...(values.json ? ['--json'] : [])]);
  try {
    printRecord(await collectEnvironmentRecord(), values.json === true);
    return EXIT.ok;
  } catch (err) {
    process.stderr.write(`detbuild info: ${describeError(err)}\n`);
    return EXIT.engine;
  }
}
