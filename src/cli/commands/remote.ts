/**
 * `detbuild remote` and `detbuild info`: argv in, src/client out, printing only.
 *
 *   detbuild remote SRC_DIR --target QUBE --out OUT_DIR [--verify] [build options]
 *   detbuild remote --info --target QUBE [--json]
 *   detbuild info [--target QUBE] [--json]       (no target: this machine's record)
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeError } from '../../errors.js';
import { runRemote, type RemoteMode, type RemoteProgress, type RemoteResult } from '../../client/remote.js';
import type { EventFrame, Recipe } from '../../protocol/messages.js';
import { ExitCode, EXIT_INTERNAL } from '../../protocol/status.js';
import { toBuildinfo } from '../../record/buildinfo.js';
import { collectEnvironmentRecord } from '../../record/collect.js';
import type { EnvironmentRecord } from '../../record/schema.js';
import { runRemoteMany } from '../batch/remote-many.js';
import { parseJobs } from '../options.js';
import { UsageError } from '../exit-codes.js';
import { onInterrupt } from '../cancel.js';
import { SEED_RULE, isSeed } from '../../seed.js';
import { SHA256_RULE, isSha256 } from '../../sha256.js';

export const REMOTE_USAGE = `usage: detbuild remote SRC_DIR --out OUT_DIR [--target QUBE] [--verify]
                       [--command CMD] [--epoch SECONDS] [--seed HEX] [--time-step SECONDS]
                       [--timeout SECONDS] [--plain] [--json] [--quiet]
                       [--dsc NAME.dsc [--nocheck] [--with-source]] [--require-environment SHA256]
       detbuild remote INPUT... --out OUT_DIR [--jobs N] [--target QUBE] [build options]
       detbuild remote --info [--target QUBE] [--json]

  --target QUBE   the builder: a qube name, or @dispvm:detbuild-dvm for a fresh
                  disposable per build (default: builder)
  --verify        build twice there under different conditions; keep the artifacts
                  only if both builds are identical
  --dsc NAME.dsc  SRC_DIR holds a Debian source package: build NAME.dsc with
                  dpkg-buildpackage -b there (the dpkg recipe; --nocheck skips its tests;
                  --with-source: the .changes and .buildinfo list the source package too)
  --srpm NAME.src.rpm  SRC_DIR holds a source RPM: rebuild it with rpmbuild -ra there
  --spec SPEC     SRC_DIR is a source tree with SPEC (e.g. rpm_spec/NAME.spec.in):
                  make the .src.rpm there, then rebuild it (the rpm recipe; --nocheck too)
  INPUT...        several source directories or FILE.dsc: each built in its own call (with the
                  default target @dispvm:detbuild-dvm, its own disposable), --jobs at once
                  (default 4), into OUT_DIR/NAME; a live line per build and a summary table
  --require-environment SHA256
                  the builder refuses the build unless its environment record's
                  environmentSha256 is this one
  --json          the result summary as JSON on stdout (the live log stays on stderr;
                  --quiet silences it)
exit status: 0 success, 2 usage, 3 request refused, 4 build failed, 5 timeout,
  6 output limit, 7 builder error, 8 cancelled, 9 not reproducible,
  10 transport error, 11 refused by qrexec policy, 12 artifact failed verification`;

class Usage extends Error {}

function clock(): string {
  return new Date().toISOString().slice(11, 19);
}

function formatEvent(e: EventFrame): string {
  const run = e.run ? `[${e.run}] ` : '';
  return e.kind === 'stage' ? `${clock()} ${run}[${e.stage}] ${e.message}` : `${clock()} ${run}${e.stream === 'stdout' ? '│' : '!'} ${e.line}`;
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** One progress line on stderr: rewritten in place on a terminal, every few seconds otherwise. */
class ProgressLine {
  private shown = false;
  private last = 0;
  constructor(private readonly tty: boolean) {}

  update(p: RemoteProgress): void {
    const text =
      p.phase === 'upload'
        ? `sending sources: ${mib(p.bytes)}`
        : p.artifact
          ? `receiving artifact ${p.artifact.index + 1}/${p.artifact.count}: ${p.artifact.path}`
          : `receiving artifacts: ${mib(p.bytes)}${p.total ? ` of ${mib(p.total)} (${Math.floor((p.bytes / Math.max(p.total, 1)) * 100)}%)` : ''}`;
    const now = Date.now();
    if (this.tty) {
      process.stderr.write(`\r\x1b[K${text}`);
      this.shown = true;
    } else if (now - this.last > 5000 || (p.total !== null && p.bytes === p.total)) {
      process.stderr.write(`${clock()} ${text}\n`);
      this.last = now;
    }
  }

  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}

function parseSeconds(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new Usage(`--${name}: expected a non-negative number, got '${v}'`);
  return Number(v);
}

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
  try {
    return await remote(argv);
  } catch (err) {
    if (err instanceof Usage) {
      process.stderr.write(`detbuild remote: ${err.message}\n${REMOTE_USAGE}\n`);
      return ExitCode.usage;
    }
    process.stderr.write(`detbuild remote: internal error: ${describeError(err)}\n`);
    return EXIT_INTERNAL;
  }
}

const INFO_USAGE = `usage: detbuild info [--target QUBE] [--json]

  prints the build environment record of this machine, or of the builder qube QUBE`;

/** `detbuild info [--target QUBE] [--json]`. */
export async function runInfoCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: { target: { type: 'string', short: 't' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    process.stderr.write(`detbuild info: ${(err as Error).message}\n${INFO_USAGE}\n`);
    return ExitCode.usage;
  }
  if (values.help) {
    process.stdout.write(`${INFO_USAGE}\n`);
    return ExitCode.success;
  }
  if (values.target) return runRemoteCommand(['--info', '--target', values.target, ...(values.json ? ['--json'] : [])]);
  try {
    printRecord(await collectEnvironmentRecord(), Boolean(values.json));
    return ExitCode.success;
  } catch (err) {
    process.stderr.write(`detbuild info: ${describeError(err)}\n`);
    return ExitCode.error;
  }
}

function printRecord(record: EnvironmentRecord, asJson: boolean): void {
  process.stdout.write(asJson ? `${JSON.stringify(record, null, 2)}\n` : toBuildinfo(record));
}

async function remote(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        target: { type: 'string', short: 't' },
        out: { type: 'string', short: 'o' },
        verify: { type: 'boolean' },
        info: { type: 'boolean' },
        command: { type: 'string', short: 'c' },
        epoch: { type: 'string' },
        seed: { type: 'string' },
        'time-step': { type: 'string' },
        timeout: { type: 'string' },
        plain: { type: 'boolean' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
        dsc: { type: 'string' },
        srpm: { type: 'string' },
        spec: { type: 'string' },
        nocheck: { type: 'boolean' },
        jobs: { type: 'string', short: 'j' },
        'with-source': { type: 'boolean' },
        'require-environment': { type: 'string' },
      },
    });
  } catch (err) {
    throw new Usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${REMOTE_USAGE}\n`);
    return ExitCode.success;
  }
  const many = positionals.length > 1;
  const target = values.target ?? (many ? '@dispvm:detbuild-dvm' : 'builder');
  const mode: RemoteMode = values.info ? 'info' : values.verify ? 'verify' : 'build';
  if (mode === 'info' && (positionals.length > 0 || values.out)) throw new Usage('--info takes no SRC_DIR and no --out');
  if (mode !== 'info') {
    if (positionals.length === 0) throw new Usage('expected a SRC_DIR');
    if (many && (mode !== 'build' || values.dsc !== undefined)) throw new Usage('several inputs are built with build only: no --verify, and FILE.dsc inputs instead of --dsc');
    if (!values.out) throw new Usage('--out OUT_DIR is required');
  }
  const recipe: Recipe = {};
  if (values.command !== undefined) recipe.command = values.command;
  const epoch = parseSeconds('epoch', values.epoch);
  if (epoch !== undefined) {
    if (!Number.isSafeInteger(epoch)) throw new Usage('--epoch: expected whole seconds');
    recipe.epoch = epoch;
  }
  if (values.seed !== undefined) {
    if (!isSeed(values.seed)) throw new Usage(`--seed: expected ${SEED_RULE}`);
    recipe.seed = values.seed;
  }
  const step = parseSeconds('time-step', values['time-step']);
  if (step !== undefined) {
    if (step <= 0) throw new Usage('--time-step must be more than 0');
    recipe.timeStepNs = Math.round(step * 1e9);
  }
  const timeout = parseSeconds('timeout', values.timeout);
  if (timeout !== undefined) recipe.limits = { timeoutMs: Math.max(1, Math.round(timeout * 1000)) };
  if (values.plain) recipe.mode = 'plain';
  const kinds = [values.dsc, values.srpm, values.spec, values.command].filter((v) => v !== undefined).length;
  if (kinds > 1) throw new Usage('--dsc, --srpm, --spec and --command exclude each other');
  if (values.dsc !== undefined) {
    recipe.kind = 'dpkg';
    recipe.dsc = values.dsc;
    if (values['with-source']) recipe.withSource = true;
  } else if (values.srpm !== undefined || values.spec !== undefined) {
    recipe.kind = 'rpm';
    if (values.srpm !== undefined) recipe.srpm = values.srpm;
    if (values.spec !== undefined) recipe.spec = values.spec;
  } else if (values.nocheck) {
    throw new Usage('--nocheck belongs to --dsc, --srpm or --spec');
  }
  if (values['with-source'] && values.dsc === undefined) throw new Usage('--with-source belongs to --dsc');
  if (values['require-environment'] !== undefined) {
    if (!isSha256(values['require-environment'])) throw new Usage(`--require-environment: expected ${SHA256_RULE}`);
    recipe.requireEnvironment = values['require-environment'];
  }
  if (values.nocheck) recipe.nocheck = true;

  let jobs: number;
  try {
    jobs = parseJobs(values.jobs, 4, positionals.length);
  } catch (err) {
    throw new Usage((err as UsageError).message);
  }
  if (many) return runRemoteMany(positionals, { target, recipe, outRoot: path.resolve(values.out!), jobs, json: values.json, quiet: values.quiet });

  const quiet = Boolean(values.quiet);
  const progress = new ProgressLine(Boolean(process.stderr.isTTY) && !quiet);
  const interrupt = onInterrupt();
  let result: RemoteResult;
  try {
    result = await runRemote({
      mode,
      target,
      sourceDir: positionals[0] ? path.resolve(positionals[0]) : undefined,
      outDir: values.out ? path.resolve(values.out) : undefined,
      recipe,
      signal: interrupt.signal,
      onEvent: quiet
        ? undefined
        : (e) => {
            progress.clear();
            process.stderr.write(`${formatEvent(e)}\n`);
          },
      onQueued: quiet ? undefined : (q) => process.stderr.write(`${clock()} [queued] build ${q.id} waits behind ${q.position} other build(s) in ${target}\n`),
      onProgress: quiet ? undefined : (p) => progress.update(p),
      onRemoteStderr: (line) => {
        progress.clear();
        process.stderr.write(`${line}\n`);
      },
    });
  } finally {
    progress.clear();
    interrupt.release();
  }

  if (values.json) {
    process.stdout.write(`${JSON.stringify(mode === 'info' && result.record ? { ...summary(result), environment: result.record } : summary(result), null, 2)}\n`);
  } else if (result.ok && mode === 'info' && result.record) {
    printRecord(result.record, false);
  } else if (result.ok && result.manifest) {
    for (const a of result.manifest.artifacts) process.stdout.write(`${a.sha256}  ${a.path}\n`);
    process.stdout.write(`${path.join(result.outDir!, 'manifest.json')}\n`);
  }
  if (!result.ok) {
    const where = result.logPath ? ` (log: ${result.logPath})` : '';
    process.stderr.write(`detbuild remote: ${result.status}: ${result.message}${where}\n`);
  }
  return result.exitCode;
}
