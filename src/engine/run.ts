/**
 * runBuild: one build, from a spec to a result directory.  Copies the sources
 * into a fresh workspace, runs the command in the sandbox (under the
 * supervisor unless the spec asks for a plain control run), streams the log,
 * enforces the limits, and publishes artifacts + manifest + log atomically.
 */
import { chmodSync, createWriteStream, existsSync, promises as fs, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { dir as tmpDir } from 'tmp-promise';
import type { BuildEvent, BuildResult, BuildSpec, BuildStatus, Manifest, RunOptions } from './types.js';
import { EngineError, SpecError } from './errors.js';
import { DetbuildError, describeError } from '../errors.js';
import { hostViewFiles } from './hostview.js';
import { bwrapArgs, buildEnvironment, type WorkspaceLayout } from './sandbox.js';
import { copyTree } from './sources.js';
import { OutputLimitError, listArtifacts, measureTree } from './collect.js';
import { checkFacilities, firstAllowedCpu, fuseUsable, rootEntries, supervisorPath } from './facilities.js';
import { validateSpec } from './spec.js';
import { ENGINE_VERSION } from './version.js';
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

/** Splits a byte stream into lines (a trailing partial line is flushed at the end). */
function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let rest = '';
  return {
    push(chunk) {
      const text = rest + chunk.toString('utf8');
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) onLine(l);
    },
    end() {
      if (rest) onLine(rest);
      rest = '';
    },
  };
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
  const started = Date.now();
  const clock = new StageClock();
  let outcome: BuildOutcome | null = null;
  const emit = (e: BuildEvent): void => {
    try {
      opts.onEvent?.(e);
    } catch {
      // a listener's failure must not break the build
    }
  };
  const finish = (r: BuildOutcome): BuildOutcome => {
    r.timings = clock.timings;
    outcome = r;
    emit({ kind: 'end', result: r });
    return r;
  };
  const outDir = path.resolve(opts.outDir);
  const failedLog = `${outDir}.failed.log`;
  let ws: { path: string; cleanup(): Promise<void> } | null = null;
  try {
    validateSpec(spec);
    const srcStat = await fs.stat(spec.sourceDir).catch((err: unknown) => {
      throw new SpecError('SOURCE_MISSING', `source directory does not exist: ${spec.sourceDir}`, { cause: err });
    });
    if (!srcStat.isDirectory()) throw new SpecError('SOURCE_NOT_DIRECTORY', `source path is not a directory: ${spec.sourceDir}`);
    await assertOutDirUsable(outDir);
    // bubblewrap's probe runs while the sources are copied; awaited before the sandbox starts
    const facilities = checkFacilities(spec.mode === 'deterministic');
    facilities.catch(() => undefined);
    clock.mark('checks');

    emit({ kind: 'stage', stage: 'prepare', message: 'copying sources into a fresh workspace' });
    ws = await tmpDir({ prefix: 'detbuild-ws-', unsafeCleanup: true });
    const layoutDirs = { src: path.join(ws.path, 'src'), out: path.join(ws.path, 'out'), home: path.join(ws.path, 'home'), view: path.join(ws.path, 'view') };
    // chmod after mkdir: the caller's umask must not reach the build (/build/src, /build/out, /build/home)
    for (const d of Object.values(layoutDirs)) {
      await fs.mkdir(d);
      await fs.chmod(d, 0o755);
    }
    // the hash of what was copied, taken while copying (each source file is read once)
    const sourceHash = await copyTree(spec.sourceDir, layoutDirs.src, spec.epoch);
    clock.mark('copy');

    const viewFiles = new Map<string, string>();
    if (spec.mode === 'deterministic') {
      const files = hostViewFiles(spec.seed, readFileSync('/proc/cpuinfo', 'utf8'));
      let n = 0;
      for (const [inside, content] of files) {
        // a file can only be replaced where the host has one to bind over (or in our emptied cpu dir)
        if (!inside.startsWith('/sys/devices/system/cpu/') && !existsSync(inside)) continue;
        const host = path.join(layoutDirs.view, `f${n++}`);
        // small files: written at once rather than through the thread pool (three hops each)
        writeFileSync(host, content);
        chmodSync(host, 0o444); // not through the caller's umask
        viewFiles.set(inside, host);
      }
      // /etc/localtime is a symlink into zoneinfo: the file it names becomes UTC
      const utc = '/usr/share/zoneinfo/Etc/UTC';
      if (existsSync('/etc/localtime') && existsSync(utc)) {
        const zone = realpathSync('/etc/localtime');
        if (zone !== realpathSync(utc) && zone.startsWith('/usr/')) viewFiles.set(zone, utc);
      }
    }
    clock.mark('view');
    const roots = await rootEntries();
    const layout: WorkspaceLayout = {
      src: layoutDirs.src,
      out: layoutDirs.out,
      home: layoutDirs.home,
      viewFiles,
      supervisor: supervisorPath(),
      rootSymlinks: roots.symlinks,
      // the spec's extra read-only host directories (those that exist here)
      rootDirs: [...roots.dirs, ...(spec.hostDirs ?? []).filter((d) => existsSync(`/${d}`))],
      cpu: await firstAllowedCpu(),
      tmpBytes: Math.min(spec.limits.maxOutputBytes * 2, 8 * 1024 ** 3),
      fuse: await fuseUsable(),
    };
    const env = buildEnvironment(spec, process.env);
    const args = bwrapArgs(spec, layout, env);
    await facilities;

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

    let killedFor: 'timeout' | 'output-limit' | 'cancelled' | null = null;
    // the file-size limit applies to the build only (the supervisor's own
    // clock table may be larger): the supervisor sets it, or prlimit in plain mode
    const command = spec.mode === 'deterministic' ? ['bwrap', ...args] : ['prlimit', `--fsize=${spec.limits.maxOutputBytes + 1}`, '--', 'bwrap', ...args];
    const spawnNs = clock.mark('layout');
    const child = execa(command[0]!, command.slice(1), {
      stdio: spec.mode === 'deterministic' ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
      buffer: false,
      reject: false,
      env: {},
      extendEnv: false,
      detached: true,
    });
    const kill = (why: typeof killedFor): void => {
      if (!killedFor) killedFor = why;
      try {
        // the bwrap process group; its pid-1 dies with it and takes the whole tree
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    let statusText = '';
    child.stdout?.on('data', (c: Buffer) => buildLines.push(c));
    child.stderr?.on('data', (c: Buffer) => engineLines.push(c));
    const statusStream = child.stdio[3] as NodeJS.ReadableStream | undefined;
    statusStream?.on('data', (c: Buffer) => {
      statusText += c.toString('utf8');
    });
    const timer = setTimeout(() => kill('timeout'), spec.limits.timeoutMs);
    let measuring = false;
    const watcher = setInterval(() => {
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
    const done = await child;
    const exitNs = process.hrtime.bigint();
    clearTimeout(timer);
    clearInterval(watcher);
    opts.signal?.removeEventListener('abort', onAbort);
    buildLines.end();
    engineLines.end();
    await new Promise<void>((resolve) => log.end(resolve));

    let stats: EngineStats | null = null;
    try {
      stats = statusText.trim() ? (JSON.parse(statusText.trim()) as EngineStats) : null;
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
    if (killedFor) {
      const messages = {
        timeout: `the build exceeded its time limit of ${spec.limits.timeoutMs} ms and was killed`,
        'output-limit': `the build exceeded its output limit (${spec.limits.maxOutputBytes} bytes, ${spec.limits.maxOutputFiles} files) and was killed`,
        cancelled: 'the build was cancelled',
      } as const;
      return finish(result({ status: killedFor, message: messages[killedFor], durationMs, logPath: await keepFailedLog(), stats }));
    }
    const exitCode = typeof done.exitCode === 'number' ? done.exitCode : null;
    if (spec.mode === 'deterministic' && stats === null) {
      return finish(result({ status: 'error', message: `the engine did not run the build (exit status ${exitCode ?? done.signal}); see the log`, exitCode, durationMs, logPath: await keepFailedLog() }));
    }
    const buildExit = stats ? (stats.exitCode ?? exitCode) : exitCode;
    const buildSignal = stats && stats.signal ? `signal ${stats.signal}` : done.signal ?? null;
    if (buildExit !== 0 || buildSignal) {
      const why = buildSignal ? `was killed by ${buildSignal}` : `exited with status ${buildExit}`;
      return finish(result({ status: 'failed', message: `the build command ${why}`, exitCode: buildExit === -1 ? null : buildExit, signal: buildSignal, durationMs, logPath: await keepFailedLog(), stats }));
    }

    clock.mark('after-run');
    emit({ kind: 'stage', stage: 'collect', message: 'hashing artifacts' });
    let artifacts;
    try {
      artifacts = await listArtifacts(layout.out, spec.limits);
    } catch (err) {
      if (err instanceof OutputLimitError) {
        return finish(result({ status: 'output-limit', message: err.message, durationMs, logPath: await keepFailedLog(), stats }));
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
      await moveTree(layout.out, path.join(staging, 'artifacts'));
      await fs.writeFile(path.join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      await fs.copyFile(logPath, path.join(staging, 'build.log'));
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
    if (ws) await ws.cleanup().catch(() => undefined);
    clock.mark('cleanup');
    const o = outcome as BuildOutcome | null;
    if (o) await appendStatsLine({ command: spec.command, mode: spec.mode, status: o.status, durationMs: o.durationMs, stats: o.stats, timings: clock.timings });
  }
}

async function moveTree(from: string, to: string): Promise<void> {
  try {
    await fs.rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await fs.cp(from, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  }
}
