#!/usr/bin/env node
/** `detbuild`: the command-line front end.  Parses argv, calls the core, prints; nothing else. */
import { runBuildCommand, BUILD_USAGE } from './commands/build.js';
import { runDebCommand, DEB_USAGE } from './commands/deb.js';
import { runRpmCommand, RPM_USAGE } from './commands/rpm.js';
import { EXIT, UsageError } from './exit-codes.js';
import { runTemplateCommand } from './commands/template.js';
import { runVerifyCommand, VERIFY_USAGE } from './commands/verify.js';
import { ENGINE_VERSION } from '../engine/version.js';
import { runRebuildCommand } from './commands/rebuild.js';
import { runAgreeCommand } from './commands/agree.js';
import { runInfoCommand } from './commands/info.js';
import { runRemoteCommand } from './commands/remote.js';

const USAGE = `usage: detbuild <command> [options]

commands:
  build SRC_DIR --out OUT_DIR    build locally under the determinism engine
  verify SRC_DIR [--out DIR]     build twice locally under different conditions; identical or not
  remote SRC_DIR --out OUT_DIR   build in a Qubes builder qube through qubes.DetBuild
  deb FILE.dsc --out OUT_DIR     build a Debian source package (dpkg-buildpackage -b) under the engine
  rpm FILE.src.rpm --out OUT_DIR rebuild a source RPM (rpmbuild -ra) under the engine; --spec SPEC SRC_DIR for a spec
  info                           print this machine's build environment record
  template lock|fetch|build      lock a builder's package set; regenerate its template image from a lock
  rebuild PROVENANCE --sources SRC --out DIR   rebuild a published build; GOOD, BAD or UNVERIFIABLE
  agree STATEMENT... --keys KEYRING --threshold M   do M rebuilders' signed attestations agree?

${BUILD_USAGE}
${VERIFY_USAGE}
${DEB_USAGE}
${RPM_USAGE}

'detbuild COMMAND --help' describes a command; 'detbuild --version' prints the version.`;

/** Each command's entry point: one file under commands/. */
const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  build: runBuildCommand,
  verify: runVerifyCommand,
  remote: runRemoteCommand,
  deb: runDebCommand,
  rpm: runRpmCommand,
  info: runInfoCommand,
  template: runTemplateCommand,
  rebuild: runRebuildCommand,
  agree: runAgreeCommand,
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const command = cmd !== undefined && Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (command) return command(rest);
  switch (cmd) {
    case '--version':
    case '-V':
      process.stdout.write(`detbuild ${ENGINE_VERSION}\n`);
      return EXIT.ok;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return cmd === undefined ? EXIT.usage : EXIT.ok;
    default:
      throw new UsageError(`unknown command '${cmd}' (try 'detbuild --help')`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`detbuild: ${err.message.split('\n')[0]}\n`);
      process.exitCode = EXIT.usage;
    } else {
      process.stderr.write(`detbuild: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = EXIT.internal;
    }
  },
);
