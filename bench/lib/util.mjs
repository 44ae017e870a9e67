/** Small helpers shared by the benchmark: timing, CPU accounting, machine facts, statistics. */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';

/** Monotonic wall clock of the bench process (outside any sandbox), in milliseconds. */
export function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // keep the usual 100
}

/**
 * CPU accounting of the bench process and everything it starts.  Reaped-child
 * counters (cutime) do not work for builds: bubblewrap's outer process exits
 * without reaping the sandbox's init, so the build's CPU never reaches us.
 * Instead the bench moves itself into a cpuacct cgroup of its own (v1, or v2's
 * cpu.stat), which its children inherit; falls back to cutime when it cannot.
 */
let cg = null;

function cutimeMs() {
  const s = readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / clkTck;
}

export function setupCpuAccounting() {
  const name = `detbuild-bench-${process.pid}`;
  const tries = [
    { root: '/sys/fs/cgroup/cpuacct', read: (d) => Number(readFileSync(`${d}/cpuacct.usage`, 'utf8')) / 1e6 },
    { root: '/sys/fs/cgroup/unified', read: (d) => Number(/usage_usec (\d+)/.exec(readFileSync(`${d}/cpu.stat`, 'utf8'))[1]) / 1e3 },
    { root: '/sys/fs/cgroup', read: (d) => Number(/usage_usec (\d+)/.exec(readFileSync(`${d}/cpu.stat`, 'utf8'))[1]) / 1e3 },
  ];
  for (const t of tries) {
    const dir = `${t.root}/${name}`;
    try {
      mkdirSync(dir);
      writeFileSync(`${dir}/cgroup.procs`, String(process.pid));
      t.read(dir);
      cg = { dir, root: t.root, read: () => t.read(dir) };
      return `cgroup ${dir}`;
    } catch {
      try {
        rmdirSync(dir);
      } catch {
        // not created
      }
    }
  }
  return 'reaped-children counters (no writable cgroup: CPU of sandboxed builds is not seen)';
}

export function teardownCpuAccounting() {
  if (!cg) return;
  try {
    writeFileSync(`${cg.root}/cgroup.procs`, String(process.pid));
    rmdirSync(cg.dir);
  } catch {
    // left behind: harmless, empty
  }
  cg = null;
}

/** CPU (user + system, ms) used so far by the bench process and everything it started. */
export function ownCpuMs() {
  if (cg) return cg.read();
  return selfCpuMs() + cutimeMs();
}

/** CPU used so far by what the bench started (not the bench process itself), ms. */
export function childCpuMs() {
  return ownCpuMs() - selfCpuMs();
}

/** CPU time of this node process itself, ms. */
export function selfCpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Busy time of all CPUs of the machine, ms (from /proc/stat). */
export function machineBusyMs() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice
  const busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] || 0);
  return (busy * 1000) / clkTck;
}

/**
 * A probe of "how busy is the machine with work that is not ours": samples
 * all CPUs' busy time and subtracts what this process and its reaped children
 * used.  Returned as a number of CPUs (0 = idle machine, 2 = both CPUs busy).
 */
export class ForeignLoad {
  constructor() {
    this.t = nowMs();
    this.busy = machineBusyMs();
    this.own = ownCpuMs();
  }

  /** foreign load in CPUs since construction */
  cpus() {
    const dt = nowMs() - this.t;
    if (dt <= 0) return 0;
    const busy = machineBusyMs() - this.busy;
    const own = ownCpuMs() - this.own;
    return Math.max(0, (busy - own) / dt);
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Waits (up to maxMs) until the rest of the machine uses less than `threshold`
 * CPUs over a 1 s window; returns the ms waited.  Others' jobs (tests, builds)
 * share this 2-CPU machine; starting a measured run in a quiet moment makes
 * the numbers less noisy, and each run records the foreign load it saw anyway.
 */
export async function waitQuiet({ threshold = 0.3, maxMs = 30_000 } = {}) {
  const t0 = nowMs();
  for (;;) {
    const probe = new ForeignLoad();
    await sleep(1000);
    const load = probe.cpus();
    if (load < threshold || nowMs() - t0 >= maxMs) return nowMs() - t0;
  }
}

export function median(xs) {
  const a = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((p, q) => p - q);
  if (a.length === 0) return null;
  const m = Math.floor(a.length / 2);
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

export function min(xs) {
  const a = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return a.length ? Math.min(...a) : null;
}

/** Single-quotes a string for sh. */
export function shq(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/** Runs a command, inheriting nothing but the given env; resolves with { code, stdout, stderr }. */
export function run(cmd, args, { cwd, env, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: env ?? process.env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? 128, signal, stdout, stderr }));
    if (input !== undefined) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
  });
}

/** Like run() but throws on a non-zero exit, with the command's output in the message. */
export async function runOk(cmd, args, opts = {}) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.code}):\n${tail}`);
  }
  return r;
}

export function machineInfo() {
  let model = os.cpus()[0]?.model ?? 'unknown';
  let kernel = os.release();
  let distro = '';
  try {
    distro = /PRETTY_NAME="([^"]*)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    // none
  }
  const tool = (cmd, args, re) => {
    try {
      const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      return (re ? re.exec(out)?.[1] : out.split('\n')[0])?.trim() ?? '?';
    } catch (err) {
      const out = `${err.stdout ?? ''}${err.stderr ?? ''}`;
      return (re ? re.exec(out)?.[1] : out.split('\n')[0])?.trim() || 'absent';
    }
  };
  return {
    nproc: os.cpus().length,
    cpuModel: model,
    kernel,
    distro,
    memGiB: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    gcc: tool('gcc', ['-dumpfullversion']),
    go: tool('go', ['version'], /go version (\S+)/),
    javac: tool('javac', ['-version'], /javac (\S+)/),
    bwrap: tool('bwrap', ['--version']),
  };
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms.toFixed(0)} ms`;
}

export function fmtRatio(r) {
  return r === null || r === undefined || !Number.isFinite(r) ? '–' : `${r.toFixed(3)}x`;
}

export function fmtNs(ns) {
  if (ns === null || ns === undefined || !Number.isFinite(ns)) return '–';
  if (Math.abs(ns) >= 100_000) return `${(ns / 1000).toFixed(0)} µs`;
  if (Math.abs(ns) >= 10_000) return `${(ns / 1000).toFixed(1)} µs`;
  if (Math.abs(ns) >= 1000) return `${(ns / 1000).toFixed(2)} µs`;
  return `${ns.toFixed(Math.abs(ns) < 100 ? 1 : 0)} ns`;
}
