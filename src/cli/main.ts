#!/usr/bin/env node
/** `detbuild`: the command-line front end.  Parses argv, calls the core, prints; nothing else. */
import { runBuildCommand, BUILD_USAGE } from './build.js';
import { runDebCommand, DEB_USAGE } from './deb.js';
import { runRpmCommand, RPM_USAGE } from './rpm.js';
import { EXIT, UsageError } from './exit-codes.js';
import { runTemplateCommand } from './template.js';
import { runVerifyCommand, VERIFY_USAGE } from './verify.js';
import { ENGINE_VERSION } from '../engine/version.js';
import { runRebuildCommand } from './rebuild.js';
import { runAgreeCommand } from './agree.js';

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

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'build':
      return runBuildCommand(rest);
    case 'verify':
      return runVerifyCommand(rest);
    case 'template':
      return runTemplateCommand(rest);
    case 'deb':
      return runDebCommand(rest);
    case 'rpm':
      return runRpmCommand(rest);
    case 'rebuild':
      return runRebuildCommand(rest);
    case 'agree':
      return runAgreeCommand(rest);
    case 'remote':
    case 'info': {
      const remoteModule = './remote.js'; // provided by the qrexec client (src/cli/remote.ts)
      const mod = (await import(remoteModule)) as { runRemoteCommand?: (a: string[]) => Promise<number>; runInfoCommand?: (a: string[]) => Promise<number> };
      const fn = cmd === 'remote' ? mod.runRemoteCommand : (mod.runInfoCommand ?? mod.runRemoteCommand);
      if (!fn) throw new UsageError(`the '${cmd}' command is not available in this build`);
      return fn(cmd === 'info' && !mod.runInfoCommand ? ['--info', ...rest] : rest);
    }
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
