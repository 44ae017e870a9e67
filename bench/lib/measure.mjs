/**
 * One measured build in one of three modes, all timed from outside:
 *  - engine:  runBuild() in 'deterministic' mode (sandbox + supervisor; the
 *             supervisor pins the build tree to one CPU);
 *  - plain:   runBuild() in 'plain' mode (the same bubblewrap sandbox, no
 *             supervisor), the command run under `taskset -c 0`;
 *  - outside: the command run directly on the host under `taskset -c 0`, in a
 *             directory of the bench's own, no sandbox.
 * Wall time is taken from the engine's 'run' stage event to the moment the
 * build's processes are gone (so copying the sources in, hashing and
 * publishing the artifacts are excluded; they are reported separately as
 * totalMs).  CPU time is what the reaped build tree used (childCpuMs).
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ForeignLoad, childCpuMs, nowMs, shq } from './util.mjs';

const MARKER = /^([BE]) (\S+) (\d+)$/;

let engineMod = null;
export async function engine() {
  if (!engineMod) {
    const url = new URL('../../dist/engine/index.js', import.meta.url);
    try {
      engineMod = await import(url.href);
    } catch (err) {
      throw new Error(`cannot load the engine from dist/ (run 'npm run build' first): ${err.message}`);
    }
  }
  return engineMod;
}

/** The command as each mode runs it: the plain and outside runs pin themselves to CPU 0. */
export function wrapCommand(mode, command) {
  if (mode.startsWith('engine')) return `exec sh -c ${shq(command)}`;
  return `exec taskset -c 0 sh -c ${shq(command)}`;
}

function lineCollector(onLine) {
  let rest = '';
  return {
    push(chunk) {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) onLine(l);
    },
    end() {
      if (rest) onLine(rest);
      rest = '';
    },
  };
}

/** Keeps the first and last lines of a log, for failure reports. */
class LogTail {
  constructor(head = 20, tail = 60) {
    this.headN = head;
    this.tailN = tail;
    this.head = [];
    this.tail = [];
    this.count = 0;
  }

  add(line) {
    this.count++;
    if (this.head.length < this.headN) this.head.push(line);
    else {
      this.tail.push(line);
      if (this.tail.length > this.tailN) this.tail.shift();
    }
  }

  text() {
    const skipped = this.count - this.head.length - this.tail.length;
    return [...this.head, ...(skipped > 0 ? [`[... ${skipped} lines ...]`] : []), ...this.tail].join('\n');
  }
}

/**
 * Runs `command` on a copy of `srcDir` in `mode`.  Returns
 * { mode, ok, status, message, wallMs, cpuMs, totalMs, foreignLoad, stats,
 *   markers: [{kind, op, n, t}], values: {KEY: value} from "KEY=value" lines,
 *   artifacts: [{path, sha256, size}], logTail, failedLog }.
 */
export async function measure({ mode, srcDir, command, workDir, label, outsideDir, keepOut = false, timeoutMs }) {
  const markers = [];
  const values = {};
  const tail = new LogTail();
  const onLine = (line) => {
    const t = nowMs();
    const m = MARKER.exec(line);
    if (m) {
      markers.push({ kind: m[1], op: m[2], n: Number(m[3]), t });
      return;
    }
    const kv = /^([A-Z][A-Z0-9_]*)=(\S*)$/.exec(line);
    if (kv) values[kv[1]] = kv[2];
    tail.add(line);
  };
  if (mode === 'outside') return measureOutside({ dir: outsideDir, command, workDir, label, onLine, markers, values, tail, timeoutMs });

  const { defaultSpecFor, runBuild } = await engine();
  const choices = { command: wrapCommand(mode, command), mode: mode.startsWith('engine') ? 'deterministic' : 'plain' };
  if (timeoutMs) choices.limits = { timeoutMs };
  const { spec } = await defaultSpecFor(srcDir, choices);
  const outDir = path.join(workDir, 'out', `${label}-${mode}-${process.pid}-${Math.round(nowMs())}`);
  await fs.mkdir(path.dirname(outDir), { recursive: true });
  let t0 = null;
  let t1 = null;
  let c0 = null;
  let c1 = null;
  let load = null;
  let loadCpus = null;
  const engineLines = [];
  const mark = () => {
    if (t1 === null && t0 !== null) {
      t1 = nowMs();
      c1 = childCpuMs();
      loadCpus = load.cpus();
    }
  };
  // engine-nofs: the supervisor without its filesystem view (read when the sandbox's arguments are made)
  if (mode === 'engine-nofs') process.env.DETBUILD_NO_FS_VIEW = '1';
  else delete process.env.DETBUILD_NO_FS_VIEW;
  // engine-noshim: the stat shim loaded but not answering: every stat stops in the supervisor
  if (mode === 'engine-noshim') process.env.DETBUILD_NO_STAT_SHIM = '1';
  else delete process.env.DETBUILD_NO_STAT_SHIM;
  const res = await runBuild(spec, {
    outDir,
    onEvent(e) {
      if (e.kind === 'stage' && e.stage === 'run') {
        load = new ForeignLoad();
        t0 = nowMs();
        c0 = childCpuMs();
      } else if (e.kind === 'stage' && e.stage === 'collect') {
        mark();
      } else if (e.kind === 'end') {
        mark();
      } else if (e.kind === 'log') {
        if (e.stream === 'stderr') {
          engineLines.push(e.line);
          if (engineLines.length > 200) engineLines.shift();
        }
        onLine(e.line);
      }
    },
  });
  const out = {
    mode,
    ok: res.ok,
    status: res.status,
    message: res.message,
    wallMs: t0 !== null && t1 !== null ? t1 - t0 : null,
    cpuMs: c0 !== null && c1 !== null ? c1 - c0 : null,
    totalMs: res.durationMs,
    foreignLoad: loadCpus,
    stats: res.stats ?? null,
    timings: res.timings ?? null,
    markers,
    values,
    artifacts: (res.manifest?.artifacts ?? []).map((a) => ({ path: a.path, sha256: a.sha256, size: a.size })),
    logTail: tail.text(),
    engineLines: engineLines.slice(-40),
    failedLog: null,
  };
  if (!res.ok && res.logPath) {
    const keep = path.join(workDir, 'failures', `${label}-${mode}-${Date.now()}.log`);
    await fs.mkdir(path.dirname(keep), { recursive: true });
    await fs.copyFile(res.logPath, keep).catch(() => undefined);
    out.failedLog = keep;
  }
  if (res.outDir && !keepOut) await fs.rm(res.outDir, { recursive: true, force: true });
  else if (res.outDir) out.outDir = res.outDir;
  return out;
}

/** The outside run: `taskset -c 0 sh -c CMD` in `dir` on the host, with the same variables the command sets. */
async function measureOutside({ dir, command, workDir, label, onLine, markers, values, tail, timeoutMs }) {
  const outDir = path.join(workDir, 'out', `${label}-outside-${process.pid}-${Math.round(nowMs())}`);
  await fs.mkdir(outDir, { recursive: true });
  const env = { ...process.env, DETBUILD_OUT: outDir, HOME: process.env.HOME ?? '/root' };
  const load = new ForeignLoad();
  const c0 = childCpuMs();
  const t0 = nowMs();
  const lines = lineCollector(onLine);
  const result = await new Promise((resolve) => {
    const child = spawn('sh', ['-c', `exec 2>&1; ${wrapCommand('outside', command)}`], { cwd: dir, env, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    const timer = timeoutMs ? setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs) : null;
    child.stdout.on('data', (c) => lines.push(c));
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal });
    });
  });
  lines.end();
  const t1 = nowMs();
  const c1 = childCpuMs();
  const loadCpus = load.cpus();
  const ok = result.code === 0;
  const out = {
    mode: 'outside',
    ok,
    status: ok ? 'success' : 'failed',
    message: ok ? 'ok' : `exit ${result.code ?? result.signal}`,
    wallMs: t1 - t0,
    cpuMs: c1 - c0,
    totalMs: t1 - t0,
    foreignLoad: loadCpus,
    stats: null,
    markers,
    values,
    artifacts: [],
    logTail: tail.text(),
    engineLines: [],
    failedLog: null,
  };
  if (!ok) {
    const keep = path.join(workDir, 'failures', `${label}-outside-${Date.now()}.log`);
    await fs.mkdir(path.dirname(keep), { recursive: true });
    await fs.writeFile(keep, tail.text());
    out.failedLog = keep;
  }
  await fs.rm(outDir, { recursive: true, force: true });
  return out;
}
