/**
 * runBuild: one build, from a spec to a result directory.  Copies the sources
 * into a fresh workspace, runs the command in the sandbox (under the
 * supervisor unless the spec asks for a plain control run), streams the log,
 * enforces the limits, and publishes artifacts + manifest + log atomically.
 */
import { createWriteStream, existsSync, promises as fs, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import type { BuildEvent, BuildResult, BuildSpec, BuildStatus, Manifest, RunOptions } from './types.js';
import { EngineError, SpecError } from './errors.js';
import { DetbuildError, describeError } from '../errors.js';
import { hostViewFiles } from './hostview.js';
import { presentToolchainState } from './toolchain-state.js';
import { lineSplitter } from './lines.js';
import { normaliseTree } from './modes.js';
import { INFO_FD, STATUS_FD, bwrapArgs, buildEnvironment, type WorkspaceLayout } from './sandbox.js';
import { DiskWatch, limitFromReport, limitMessage, sandboxLimits, type LimitReport } from './limits.js';
import { SandboxTeardown } from './teardown.js';
import { copyTree, hashTree, walkTree } from './sources.js';
import { ArtifactError, OutputLimitError, listArtifacts, measureTree } from './collect.js';
import { checkFacilities, firstAllowedCpu, fuseUsable, rootEntries, statShimPath, supervisorPath } from './facilities.js';
import { asHostUser, buildHostUser, type HostUser } from './host-user.js';
import { makeWorkspace, removeWorkspace, retryLeftoverWorkspaces, type Workspace } from './workspace.js';
import { validateSpec } from './spec.js';
import { ENGINE_VERSION } from './version.js';
import { moveTree } from './move-tree.js';
import { StageClock, type StageTimings } from './timings.js';
import { appendStatsLine } from './stats-file.js';

/** Counters the supervisor reports (how much it intervened); not part of the manifest. */
export type EngineStats = Record<string, number>;

export interface BuildOutcome extends BuildResult {
  stats: EngineStats | null;
  /** milliseconds per stage of runBuild() (timings.ts); not part of the manifest */
  timings: StageTimings | null;
}

export async function assertOutDirUsable(outDir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await fs.readdir(outDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new SpecError('OUT_NOT_DIRECTORY', `output path exists and is not a directory: ${outDir}`);
    throw new SpecError('OUT_UNUSABLE', `cannot use output directory ${outDir}`, { cause: err });
  }
  if (entries.length > 0) throw new SpecError('OUT_NOT_EMPTY', `output directory exists and is not empty: ${outDir}`);
}

function result(partial: Partial<BuildOutcome> & { status: BuildStatus; message: string; durationMs: number }): BuildOutcome {
  return {
    ok: partial.status === 'success',
    exitCode: null,
    signal: null,
    outDir: null,
    manifest: null,
    logPath: null,
    stats: null,
    timings: null,
    ...partial,
  };
}

export async function runBuild(spec: BuildSpec, opts: RunOptions): Promise<BuildOutcome> {
  const emit = (e: BuildEvent): void => {
    try {
      opts.onEvent?.(e);
    } catch {
      // a listener's failure must not break the build
    }
  };
  // the workspace is gone (or reported) before the end is announced
  const clock = new StageClock();
  const r = await buildInWorkspace(spec, opts, emit, clock);
  r.timings = clock.timings;
  await appendStatsLine({ command: spec.command, mode: spec.mode, status: r.status, durationMs: r.durationMs, stats: r.stats, timings: clock.timings });
  emit({ kind: 'end', result: r });
  return r;
}

async function buildInWorkspace(spec: BuildSpec, opts: RunOptions, emit: (e: BuildEvent) => void, clock: StageClock): Promise<BuildOutcome> {
  const started = Date.now();
  // results pass through as they are: runBuild announces the end once the workspace is gone
  const finish = (r: BuildOutcome): BuildOutcome => r;
  const warn = (message: string): void => emit({ kind: 'warning', message });
  const outDir = path.resolve(opts.outDir);
  const failedLog = `${outDir}.failed.log`;
  let ws: Workspace | null = null;
  try {
    validateSpec(spec);
    const srcStat = await fs.stat(spec.sourceDir).catch((err: unknown) => {
      throw new SpecError('SOURCE_MISSING', `source directory does not exist: ${spec.sourceDir}`, { cause: err });
    });
    if (!srcStat.isDirectory()) throw new SpecError('SOURCE_NOT_DIRECTORY', `source path is not a directory: ${spec.sourceDir}`);
    await assertOutDirUsable(outDir);
    // run by root, the build runs as an unprivileged host user (never with root's access)
    const user: HostUser | null = buildHostUser(opts.buildUser);
    await checkFacilities(true, user); // the supervisor is the sandbox's pid 1 in both modes
    clock.mark('checks');

    emit({ kind: 'stage', stage: 'prepare', message: 'copying sources into a fresh workspace' });
    await retryLeftoverWorkspaces(warn);
    ws = await makeWorkspace(user);
    const layoutDirs = ws;
    await copyTree(spec.sourceDir, layoutDirs.src, spec.epoch, user ?? undefined);
    const sourceHash = await hashTree(layoutDirs.src, await walkTree(layoutDirs.src));
    clock.mark('copy');

    const viewFiles = new Map<string, string>();
    if (spec.mode === 'deterministic') {
      const files = hostViewFiles(spec.seed, readFileSync('/proc/cpuinfo', 'utf8'));
      let n = 0;
      for (const [inside, content] of files) {
        // a file can only be replaced where the host has one to bind over (or in our emptied cpu dir)
        if (!inside.startsWith('/sys/devices/system/cpu/') && !existsSync(inside)) continue;
        const host = path.join(layoutDirs.view, `f${n++}`);
        await fs.writeFile(host, content, { mode: 0o444 });
        await fs.chmod(host, 0o444);
        viewFiles.set(inside, host);
      }
      // /etc/localtime is a symlink into zoneinfo: the file it names becomes UTC
      const utc = '/usr/share/zoneinfo/Etc/UTC';
      if (existsSync('/etc/localtime') && existsSync(utc)) {
        const zone = realpathSync('/etc/localtime');
        if (zone !== realpathSync(utc) && zone.startsWith('/usr/')) viewFiles.set(zone, utc);
      }
    }
    const roots = await rootEntries();
    const layout: WorkspaceLayout = {
      src: layoutDirs.src,
      out: layoutDirs.out,
      home: layoutDirs.home,
      viewFiles,
      // the build user may not be able to reach the installed one (a checkout under /root)
      supervisor: spec.mode === 'deterministic' && user ? await privateCopy(supervisorPath(), path.join(layoutDirs.view, 'supervisor')) : supervisorPath(),
      statShim: await statShimFor(spec.mode, user !== null, path.join(layoutDirs.view, 'stat-shim.so')),
      rootSymlinks: roots.symlinks,
      // the installed toolchains' state (toolchain-state.ts) and the spec's extra
      // read-only host directories, those that exist here
      rootDirs: [...new Set([...roots.dirs, ...presentToolchainState(), ...(spec.hostDirs ?? []).filter((d) => existsSync(`/${d}`))])],
      cpu: opts.cpu ?? (await firstAllowedCpu()),
      fuse: await fuseUsable(),
    };
    const env = buildEnvironment(spec, process.env);
    const args = bwrapArgs(spec, layout, env);

    emit({ kind: 'stage', stage: 'run', message: `running: ${spec.command}` });
    const logPath = path.join(ws.path, 'build.log');
    const log = createWriteStream(logPath);
    let logBytes = 0;
    let logTruncated = false;
    const writeLog = (line: string): void => {
      if (logTruncated) return;
      const data = `${line}\n`;
      if (logBytes + data.length > spec.limits.maxLogBytes) {
        log.write(`[detbuild: log truncated at ${spec.limits.maxLogBytes} bytes]\n`);
        logTruncated = true;
        return;
      }
      logBytes += data.length;
      log.write(data);
    };
    const buildLines = lineSplitter((line) => {
      writeLog(line);
      emit({ kind: 'log', stream: 'stdout', line });
    });
    const engineLines = lineSplitter((line) => {
      writeLog(`[detbuild-supervisor] ${line}`);
      emit({ kind: 'log', stream: 'stderr', line });
    });

    let killedFor: 'timeout' | 'output-limit' | 'cancelled' | 'limit' | null = null;
    const limits = sandboxLimits(spec.limits);
    let diskOver = 0;
    // the supervisor, the sandbox's pid 1, sets the build's own limits (the file-size one among them);
    // fd 3 is its status (STATUS_FD), fd 4 bubblewrap's info (INFO_FD)
    const command = asHostUser(user, ['bwrap', ...args]);
    const spawnNs = clock.mark('layout');
    const child = execa(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'], buffer: false, reject: false, env: {}, extendEnv: false, detached: true });
    const sandbox = new SandboxTeardown(child, child.stdio[INFO_FD] as Readable);
    const kill = (why: typeof killedFor): void => {
      if (!killedFor) killedFor = why;
      sandbox.kill();
    };
    const disk = new DiskWatch([layout.src, layout.home, layout.out], limits.maxDiskBytes, (bytes) => {
      diskOver = bytes;
      kill('limit');
    });
    let statusText = '';
    child.stdout?.on('data', (c: Buffer) => buildLines.push(c));
    child.stderr?.on('data', (c: Buffer) => engineLines.push(c));
    const statusStream = child.stdio[STATUS_FD] as NodeJS.ReadableStream | undefined;
    statusStream?.on('data', (c: Buffer) => {
      statusText += c.toString('utf8');
    });
    const timer = setTimeout(() => kill('timeout'), spec.limits.timeoutMs);
    let measuring = false;
    const watcher = setInterval(() => {
      disk.tick();
      if (measuring) return;
      measuring = true;
      measureTree(layout.out)
        .then((m) => {
          if (m.bytes > spec.limits.maxOutputBytes || m.files > spec.limits.maxOutputFiles) kill('output-limit');
        })
        .finally(() => {
          measuring = false;
        });
    }, 1000);
    const onAbort = (): void => kill('cancelled');
    opts.signal?.addEventListener('abort', onAbort);
    if (opts.signal?.aborted) onAbort();
    // bubblewrap's end, then the sandbox's for certain; the pipes are not waited for
    const done = await sandbox.exited;
    const exitNs = process.hrtime.bigint();
    await sandbox.finish([child.stdout, child.stderr, child.stdio[STATUS_FD], child.stdio[INFO_FD]] as Array<Readable | null>);
    await child;
    clearTimeout(timer);
    clearInterval(watcher);
    opts.signal?.removeEventListener('abort', onAbort);
    buildLines.end();
    engineLines.end();
    await new Promise<void>((resolve) => log.end(resolve));

    let stats: EngineStats | null = null;
    let limitReport: LimitReport | null = null;
    try {
      if (statusText.trim()) {
        const { limit, limitValue, limitMax, fullFs, ...counters } = JSON.parse(statusText.trim()) as EngineStats & LimitReport;
        stats = counters as EngineStats;
        limitReport = { limit, limitValue, limitMax, fullFs };
      }
    } catch {
      stats = null;
    }
    clock.sandbox(spawnNs, exitNs, stats);
    const durationMs = Date.now() - started;
    const keepFailedLog = async (): Promise<string> => {
      await fs.copyFile(logPath, failedLog);
      return failedLog;
    };

    if (killedFor === null) {
      const m = await measureTree(layout.out);
      if (m.bytes > spec.limits.maxOutputBytes || m.files > spec.limits.maxOutputFiles) killedFor = 'output-limit';
    }
    if (killedFor === null) {
      const over = await disk.final();
      if (over !== null) {
        diskOver = over;
        killedFor = 'limit';
      }
    }
    if (killedFor) {
      const messages = {
        timeout: `the build exceeded its time limit of ${spec.limits.timeoutMs} ms and was killed`,
        'output-limit': `the build exceeded its output limit (${spec.limits.maxOutputBytes} bytes, ${spec.limits.maxOutputFiles} files) and was killed`,
        cancelled: 'the build was cancelled',
        limit: limitMessage('disk', limits, diskOver),
      } as const;
      const limit = killedFor === 'limit' ? ({ limit: 'disk' } as const) : {};
      return finish(result({ status: killedFor, message: messages[killedFor], durationMs, logPath: await keepFailedLog(), stats, ...limit }));
    }
    const exitCode = typeof done.code === 'number' ? done.code : null;
    if (stats === null) {
      return finish(result({ status: 'error', message: `the engine did not run the build (exit status ${exitCode ?? done.signal}); see the log`, exitCode, durationMs, logPath: await keepFailedLog() }));
    }
    const buildExit = stats.exitCode ?? exitCode;
    const buildSignal = stats.signal ? `signal ${stats.signal}` : null;
    const overLimit = limitFromReport(limitReport, buildExit !== 0 || !!buildSignal, limits);
    if (overLimit) {
      return finish(result({ status: 'limit', message: overLimit.message, limit: overLimit.limit, exitCode: buildExit === -1 ? null : buildExit, signal: buildSignal, durationMs, logPath: await keepFailedLog(), stats }));
    }
    if (buildExit !== 0 || buildSignal) {
      const why = buildSignal ? `was killed by ${buildSignal}` : `exited with status ${buildExit}`;
      return finish(result({ status: 'failed', message: `the build command ${why}`, exitCode: buildExit === -1 ? null : buildExit, signal: buildSignal, durationMs, logPath: await keepFailedLog(), stats }));
    }

    emit({ kind: 'stage', stage: 'collect', message: 'hashing artifacts' });
    let artifacts;
    try {
      artifacts = await listArtifacts(layout.out, spec.limits);
    } catch (err) {
      if (err instanceof OutputLimitError) {
        return finish(result({ status: 'output-limit', message: err.message, durationMs, logPath: await keepFailedLog(), stats }));
      }
      if (err instanceof ArtifactError) {
        // what the build wrote, not the engine nor the request, is at fault
        return finish(result({ status: 'failed', message: `the build's output cannot be published: ${err.message}`, exitCode: 0, durationMs, logPath: await keepFailedLog(), stats, errorCode: err.code }));
      }
      throw err;
    }
    clock.mark('collect');
    const manifest: Manifest = {
      format: 'detbuild-manifest/1',
      engineVersion: ENGINE_VERSION,
      mode: spec.mode,
      epoch: spec.epoch,
      seed: spec.seed,
      timeStepNs: spec.timeStepNs.toString(),
      command: spec.command,
      sourceHash,
      ...(spec.origin ? { epochFrom: spec.origin.epochFrom } : {}),
      ...(spec.origin?.gitCommit ? { gitCommit: spec.origin.gitCommit } : {}),
      artifacts,
    };
    // publish: everything goes into a temporary sibling, renamed into place last
    const staging = `${outDir}.partial-${process.pid}-${Date.now()}`;
    await fs.mkdir(staging, { recursive: true });
    try {
      // modes as the wire carries them (executable or not); the caller's again if another user built them
      await normaliseTree(layout.out, user ? { uid: process.getuid!(), gid: process.getgid!() } : undefined);
      await moveTree(layout.out, path.join(staging, 'artifacts'));
      await fs.writeFile(path.join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      await fs.copyFile(logPath, path.join(staging, 'build.log'));
      await opts.beforePublish?.(staging, manifest);
      await fs.rmdir(outDir).catch(() => undefined);
      await fs.rename(staging, outDir);
    } catch (err) {
      await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
      throw new EngineError('PUBLISH_FAILED', `cannot write the results to ${outDir}`, { cause: err });
    }
    clock.mark('publish');
    emit({ kind: 'stage', stage: 'done', message: `${artifacts.length} artifacts` });
    return finish(result({ status: 'success', message: 'build succeeded', exitCode: 0, outDir, manifest, logPath: path.join(outDir, 'build.log'), durationMs: Date.now() - started, stats }));
  } catch (err) {
    const durationMs = Date.now() - started;
    return finish(
      result({
        status: 'error',
        message: describeError(err),
        durationMs,
        errorCode: err instanceof DetbuildError ? err.code : 'ENGINE_INTERNAL',
        badInput: err instanceof SpecError,
      }),
    );
  } finally {
    if (ws) await removeWorkspace(ws.path, warn);
    clock.mark('cleanup');
  }
}

/** A copy of a file only the engine can change, readable and executable by anyone. */
/** the stat shim for a deterministic build, copied where the build user can read it */
async function statShimFor(mode: BuildSpec['mode'], copy: boolean, to: string): Promise<string | undefined> {
  const shim = mode === 'deterministic' ? statShimPath() : null;
  if (!shim) return undefined;
  return copy ? privateCopy(shim, to) : shim;
}

async function privateCopy(from: string, to: string): Promise<string> {
  await fs.copyFile(from, to);
  await fs.chmod(to, 0o555);
  return to;
}
