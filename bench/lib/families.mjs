/**
 * The benchmark families.  Each returns a plain JSON-able record that
 * bench/lib/report.mjs renders; nothing here asserts a number.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { configuredForSandbox, configuredOutside, debianSource } from './debsrc.mjs';
import { generateJava } from './javagen.mjs';
import { measure, wrapCommand } from './measure.mjs';
import { isTimingKey } from './stops.mjs';
import { fmtMs, median, min, run, runOk, shq } from './util.mjs';

/** The same few variables in every mode (the engine fixes these itself; the plain and outside runs inherit ours). */
export const PREAMBLE = 'export LC_ALL=C.UTF-8 LANG=C.UTF-8 TZ=UTC MAKEFLAGS=-j1;';

const benchDir = path.dirname(path.dirname(new URL(import.meta.url).pathname));

/** Which modes run in round r: ABBA order for plain/engine, the outside run in the first `outsideRounds` rounds. */
function roundModes(r, outside, nofs, noshim = false) {
  const pe = r % 2 === 0 ? ['plain', 'engine'] : ['engine', 'plain'];
  // the engine with every stat stopping in the supervisor, beside the engine: what the stat shim saves
  if (noshim) pe.splice(r % 2 === 0 ? 1 : 2, 0, 'engine-noshim');
  // the engine without its filesystem view, beside the engine: what the view costs
  else if (nofs) pe.splice(1, 0, 'engine-nofs');
  return outside ? [...pe, 'outside'] : pe;
}

function summarizeRuns(runs) {
  const by = (mode) => runs.filter((x) => x.mode === mode && x.ok);
  const modes = {};
  for (const mode of ['plain', 'engine', 'engine-nofs', 'engine-noshim', 'outside']) {
    const rs = by(mode);
    if (!rs.length) continue;
    modes[mode] = {
      n: rs.length,
      wallMs: median(rs.map((x) => x.wallMs)),
      cpuMs: median(rs.map((x) => x.cpuMs)),
      totalMs: median(rs.map((x) => x.totalMs)),
      walls: rs.map((x) => Math.round(x.wallMs)),
      cpus: rs.map((x) => Math.round(x.cpuMs)),
      loads: rs.map((x) => Number((x.foreignLoad ?? 0).toFixed(2))),
      timings: medianTimings(rs.map((x) => x.timings).filter(Boolean)),
    };
  }
  const ratio = (a, b, k) => (modes[a] && modes[b] && modes[b][k] ? modes[a][k] / modes[b][k] : null);
  // per-round ratios engine/plain (the two runs next to each other)
  const paired = [];
  const pairedNoShim = []; // CPU, engine / engine-noshim, per round
  const rounds = [...new Set(runs.map((x) => x.round))];
  for (const r of rounds) {
    const e = runs.find((x) => x.round === r && x.mode === 'engine' && x.ok);
    const p = runs.find((x) => x.round === r && x.mode === 'plain' && x.ok);
    if (e && p) paired.push(e.wallMs / p.wallMs);
    const ns = runs.find((x) => x.round === r && x.mode === 'engine-noshim' && x.ok);
    if (e && ns) pairedNoShim.push(e.cpuMs / ns.cpuMs);
  }
  const engineRuns = by('engine');
  const sets = engineRuns.map((x) => JSON.stringify(x.artifacts.map((a) => [a.path, a.sha256])));
  const statsList = engineRuns.map((x) => x.stats).filter(Boolean);
  const failures = runs
    .filter((x) => !x.ok)
    .map((x) => ({ mode: x.mode, round: x.round, status: x.status, message: x.message, stats: x.stats, failedLog: x.failedLog, logTail: x.logTail.split('\n').slice(-30).join('\n'), engineLines: x.engineLines }));
  return {
    modes,
    ratios: {
      engineVsPlainWall: ratio('engine', 'plain', 'wallMs'),
      engineVsPlainWallPaired: median(paired),
      engineVsPlainCpu: ratio('engine', 'plain', 'cpuMs'),
      engineVsOutsideWall: ratio('engine', 'outside', 'wallMs'),
      engineVsOutsideCpu: ratio('engine', 'outside', 'cpuMs'),
      engineTotalVsOutside: ratio('engine', 'outside', 'totalMs'),
      plainTotalVsOutside: ratio('plain', 'outside', 'totalMs'),
      engineVsNoFsWall: ratio('engine', 'engine-nofs', 'wallMs'),
      engineVsNoFsCpu: ratio('engine', 'engine-nofs', 'cpuMs'),
      engineVsNoShimWall: ratio('engine', 'engine-noshim', 'wallMs'),
      engineVsNoShimCpu: ratio('engine', 'engine-noshim', 'cpuMs'),
      engineVsNoShimCpuPaired: pairedNoShim.length ? median(pairedNoShim) : null,
      noShimVsOutsideCpu: ratio('engine-noshim', 'outside', 'cpuMs'),
      plainVsOutsideWall: ratio('plain', 'outside', 'wallMs'),
    },
    engineArtifactsIdentical: sets.length >= 2 ? sets.every((s) => s === sets[0]) : null,
    engineArtifacts: artifactSummary(engineRuns[0]?.artifacts ?? []),
    stats: statsList[0] ?? null,
    statsNoShim: by('engine-noshim')[0]?.stats ?? null,
    statsVary: statsList.length >= 2 ? varyingKeys(statsList) : [],
    values: (engineRuns[0] ?? runs.find((x) => x.ok))?.values ?? {},
    valuesByMode: Object.fromEntries(['plain', 'engine', 'outside'].map((m) => [m, by(m)[0]?.values]).filter(([, v]) => v && Object.keys(v).length)),
    failures,
  };
}

/** The artifacts of a run as a count, one digest over all their hashes, and the first few. */
function artifactSummary(list) {
  const h = createHash('sha256');
  for (const a of list) h.update(`${a.path}\0${a.sha256}\n`);
  return { count: list.length, digest: h.digest('hex'), first: list.slice(0, 2).map((a) => ({ path: a.path, sha256: a.sha256 })) };
}

/** the median of each stage's time over runs (runBuild's result.timings) */
function medianTimings(list) {
  if (!list.length) return null;
  const keys = [...new Set(list.flatMap((t) => Object.keys(t)))];
  return Object.fromEntries(keys.map((k) => [k, Number(median(list.map((t) => t[k] ?? 0)).toFixed(1))]));
}

function varyingKeys(list) {
  const keys = Object.keys(list[0]).filter((k) => !isTimingKey(k));
  return keys.filter((k) => list.some((s) => s[k] !== list[0][k])).map((k) => `${k}: ${list.map((s) => s[k]).join('/')}`);
}

async function rounds(ctx, { label, srcDir, command, outsideDir, freshOutside, n, outsideRounds, timeoutMs, nofs = false }) {
  const runs = [];
  for (let r = 0; r < n; r++) {
    for (const mode of roundModes(r, r < outsideRounds && outsideDir, nofs, ctx.noshim)) {
      if (mode === 'outside' && freshOutside) await freshOutside();
      await ctx.quiet();
      const res = await measure({ mode, srcDir, command, workDir: ctx.workDir, label, outsideDir, timeoutMs });
      res.round = r;
      ctx.log(
        `${label} [${r + 1}/${n}] ${mode.padEnd(11)} ${res.ok ? 'ok  ' : res.status.toUpperCase()} wall ${fmtMs(res.wallMs)}, cpu ${fmtMs(res.cpuMs)}, other load ${(res.foreignLoad ?? 0).toFixed(2)} CPUs` +
          (res.ok ? '' : ` — ${res.message}${res.failedLog ? ` (log ${res.failedLog})` : ''}`),
      );
      runs.push(res);
    }
  }
  return summarizeRuns(runs);
}

async function warmUp(ctx, srcDir, command, label) {
  ctx.log(`${label}: warm-up run (plain, not counted)`);
  await measure({ mode: 'plain', srcDir, command, workDir: ctx.workDir, label: `${label}-warmup` });
}

// ---------------------------------------------------------------- (a) compile

export const COMPILE_PROJECTS = [
  { pkg: 'bash', configure: './configure --prefix=/usr', product: 'bash' },
  { pkg: 'tar', configure: 'FORCE_UNSAFE_CONFIGURE=1 ./configure --prefix=/usr', product: 'src/tar' },
];

function compileCommand(p) {
  return (
    `${PREAMBLE} make -j1 >make.log 2>&1 || { tail -40 make.log; exit 1; }; ` +
    `cp ${p.product} "$DETBUILD_OUT/"; ` +
    `echo TUS=$(find . -name '*.o' | wc -l); ` +
    `echo SKEW_WARNINGS=$(grep -c -e 'Clock skew' -e 'modification time .* in the future' make.log)`
  );
}

export async function compile(ctx) {
  const out = { family: 'compile', date: new Date().toISOString(), projects: [] };
  const projects = ctx.quick ? COMPILE_PROJECTS.slice(0, 1) : COMPILE_PROJECTS;
  for (const p of projects) {
    const src = await debianSource(p.pkg, ctx.log);
    const tree = await configuredForSandbox(src, `${PREAMBLE} ${p.configure}`, { measure, workDir: ctx.workDir, log: ctx.log });
    const outside = ctx.outside ? await configuredOutside(src, `${PREAMBLE} ${p.configure}`, { log: ctx.log }) : null;
    const label = `compile-${p.pkg}`;
    const s = await rounds(ctx, {
      label,
      srcDir: tree,
      command: compileCommand(p),
      outsideDir: outside?.dir,
      freshOutside: outside?.freshTree,
      n: ctx.n,
      outsideRounds: ctx.outside ? 1 : 0,
      nofs: true,
    });
    out.projects.push({ name: `${p.pkg} ${src.version}`, pkg: p.pkg, command: `${p.configure} (once, not timed); then: make -j1`, ...s });
  }
  return out;
}

// ------------------------------------------------------------- configure

export async function configure(ctx) {
  const p = COMPILE_PROJECTS[0];
  const src = await debianSource(p.pkg, ctx.log);
  const command = `${PREAMBLE} ${p.configure} >configure.out 2>&1 || { tail -40 configure.out; exit 1; }; echo CHECKS=$(grep -c '^checking' configure.out)`;
  let outsideDir = null;
  let fresh = null;
  if (ctx.outside) {
    outsideDir = path.join(ctx.workDir, 'configure-outside');
    fresh = async () => {
      await fs.rm(outsideDir, { recursive: true, force: true });
      await fs.mkdir(outsideDir, { recursive: true });
      await runOk('cp', ['-a', '--', `${src.srcDir}/.`, outsideDir]);
    };
  }
  const s = await rounds(ctx, { label: `configure-${p.pkg}`, srcDir: src.srcDir, command, outsideDir, freshOutside: fresh, n: ctx.n, outsideRounds: ctx.outside ? 1 : 0, nofs: true });
  return { family: 'configure', date: new Date().toISOString(), name: `${p.pkg} ${src.version}`, command: p.configure, ...s };
}

// ------------------------------------------------------------------ (b) Go

const GO_MAIN = `package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/template"
)

func main() {
	words := strings.Fields("the quick brown fox jumps over the lazy dog")
	sort.Strings(words)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	b, _ := json.Marshal(words)
	zw.Write(b)
	zw.Close()
	t := template.Must(template.New("t").Parse("{{len .}} words, sha256 {{printf \\"%x\\" (index . 0)}}\\n"))
	sum := sha256.Sum256(buf.Bytes())
	fmt.Fprintf(os.Stdout, "%d bytes gzipped\\n", buf.Len())
	t.Execute(os.Stdout, [][]byte{sum[:]})
}
`;

const GO_ENV = 'export GOCACHE="$PWD/.gocache" GOPATH="$PWD/.gopath" GOFLAGS="-mod=mod -p=1" GOPROXY=off GOMAXPROCS=1 CGO_ENABLED=0 GOTOOLCHAIN=local GOTELEMETRY=off;';

/** Writes the Go program's sources; returns { dir, command }. */
async function prepareGo(ctx) {
  const dir = path.join(ctx.workDir, 'go-src');
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'main.go'), GO_MAIN);
  await fs.writeFile(path.join(dir, 'go.mod'), 'module example.com/benchhello\n\ngo 1.19\n');
  const command =
    `${PREAMBLE} ${GO_ENV} ` +
    `go build -a -v -trimpath -o "$DETBUILD_OUT/hello" . 2>pkgs.txt || { cat pkgs.txt; exit 1; }; ` +
    `"$DETBUILD_OUT/hello" >/dev/null && echo PKGS=$(wc -l <pkgs.txt)`;
  return { dir, command };
}

export async function go(ctx) {
  const { dir, command } = await prepareGo(ctx);
  const outsideDir = ctx.outside ? path.join(ctx.workDir, 'go-outside') : null;
  const fresh = outsideDir
    ? async () => {
        await fs.rm(outsideDir, { recursive: true, force: true });
        await runOk('cp', ['-a', '--', dir, outsideDir]);
      }
    : null;
  if (!ctx.quick) await warmUp(ctx, dir, command, 'go');
  const s = await rounds(ctx, { label: 'go', srcDir: dir, command, outsideDir, freshOutside: fresh, n: ctx.n, outsideRounds: ctx.outside ? ctx.n : 0 });
  return { family: 'go', date: new Date().toISOString(), name: 'go build -a (GOMAXPROCS=1, -p=1, CGO_ENABLED=0, fresh GOCACHE)', command, ...s };
}

/** Writes the Java sources; returns { dir, command, files }. */
async function prepareJava(ctx) {
  const count = ctx.quick ? 100 : 400;
  const dir = path.join(ctx.workDir, 'java-src');
  await fs.rm(dir, { recursive: true, force: true });
  const files = await generateJava(dir, count);
  const command = `${PREAMBLE} javac -d "$DETBUILD_OUT/classes" @sources.txt && echo CLASSES=$(find "$DETBUILD_OUT/classes" -name '*.class' | wc -l)`;
  return { dir, command, files };
}

// ---------------------------------------------------------------- (c) Java

export async function java(ctx) {
  const { dir, command, files } = await prepareJava(ctx);
  const outsideDir = ctx.outside ? dir : null;
  if (!ctx.quick) await warmUp(ctx, dir, command, 'java');
  const s = await rounds(ctx, { label: 'java', srcDir: dir, command, outsideDir, n: ctx.n, outsideRounds: ctx.outside ? ctx.n : 0 });
  return { family: 'java', date: new Date().toISOString(), name: `javac of ${files} generated source files`, sourceFiles: files, command, ...s };
}

// -------------------------------------------------------------- (d) micro

/** Ops, with a first guess of the iteration count that takes ~0.2 s (native, engine); refined after each run. */
export const MICRO_OPS = [
  { op: 'vdso_clock', bin: 'micro', what: 'clock_gettime(CLOCK_MONOTONIC) through glibc (vDSO)', n: { native: 1e7, engine: 2e6 } },
  { op: 'go_time_now', bin: 'gonow', what: 'Go time.Now() (Go runtime\'s own vDSO call)', n: { native: 5e6, engine: 2e6 } },
  { op: 'raw_clock', bin: 'micro', what: 'syscall(SYS_clock_gettime) (trapped)', n: { native: 1e6, engine: 2e4 } },
  { op: 'getrandom16', bin: 'micro', what: 'getrandom(16 bytes) (trapped)', n: { native: 5e5, engine: 2e4 } },
  { op: 'getpid', bin: 'micro', what: 'syscall(SYS_getpid) (not trapped)', n: { native: 2e6, engine: 2e6 } },
  { op: 'fstat', bin: 'micro', what: 'fstat of an open file (trapped: the filesystem view)', n: { native: 1e6, engine: 2e4 } },
  { op: 'stat_path', bin: 'micro', what: 'stat of a path (trapped: the filesystem view)', n: { native: 5e5, engine: 2e4 } },
  { op: 'stat_missing', bin: 'micro', what: 'stat of a missing file (trapped, answered by the kernel)', n: { native: 5e5, engine: 2e4 } },
  { op: 'open_close', bin: 'micro', what: 'open+close of a regular file (openat is trapped only when entropyfs is unavailable)', n: { native: 2e5, engine: 2e4 } },
  { op: 'poll0', bin: 'micro', what: 'poll(NULL, 0, 0) (a timed wait: trapped)', n: { native: 1e6, engine: 2e4 } },
  { op: 'pipe_pingpong', bin: 'micro', what: 'pipe round trip between two processes on one CPU (2 process switches, not trapped)', n: { native: 2e4, engine: 2e4 } },
  { op: 'fork_wait', bin: 'micro', what: 'fork + _exit + waitpid', n: { native: 1000, engine: 300 } },
  { op: 'spawn_true', bin: 'micro', what: 'posix_spawn(/bin/true) + waitpid', n: { native: 200, engine: 60 } },
];

export async function buildMicro(ctx) {
  const dir = path.join(ctx.workDir, 'micro-src');
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  await runOk('gcc', ['-O2', '-Wall', '-o', path.join(dir, 'micro'), path.join(benchDir, 'micro', 'micro.c')]);
  await runOk('gcc', ['-O2', '-Wall', '-o', path.join(dir, 'ptrace_floor'), path.join(benchDir, 'micro', 'ptrace_floor.c')]);
  const goEnv = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOPROXY: 'off', GOCACHE: path.join(ctx.workDir, 'gocache-micro'), GOTOOLCHAIN: 'local' };
  await runOk('go', ['build', '-trimpath', '-o', path.join(dir, 'gonow'), path.join(benchDir, 'micro', 'gonow', 'main.go')], { env: goEnv });
  return dir;
}

function microCommand(ops, nOf, pairs) {
  return ops
    .map((o) => {
      const n = nOf(o);
      const args = [];
      for (let i = 0; i < pairs; i++) args.push(o.op, n, o.op, 2 * n);
      return `./${o.bin} ${args.join(' ')}`;
    })
    .join(' && ');
}

/** (T(2N) - T(N)) / N in ns for each consecutive (N, 2N) pair of segments of an op. */
function pairCosts(markers, op) {
  const segs = [];
  let open = null;
  for (const m of markers) {
    if (m.op !== op) continue;
    if (m.kind === 'B') open = m;
    else if (open && m.n === open.n) {
      segs.push({ n: m.n, ms: m.t - open.t });
      open = null;
    }
  }
  const costs = [];
  const perOp = [];
  for (let i = 0; i + 1 < segs.length; i += 2) {
    const a = segs[i];
    const b = segs[i + 1];
    if (b.n !== 2 * a.n) continue;
    costs.push(((b.ms - a.ms) * 1e6) / a.n);
    perOp.push((a.ms * 1e6) / a.n, (b.ms * 1e6) / b.n);
  }
  return { costs, perOp };
}

export async function micro(ctx) {
  const dir = await buildMicro(ctx);
  const ops = ctx.microOps ? MICRO_OPS.filter((o) => ctx.microOps.includes(o.op)) : MICRO_OPS;
  const targetMs = ctx.quick ? 60 : 200;
  const pairs = ctx.quick ? 1 : 2;
  const roundsN = ctx.quick ? 1 : Math.max(3, ctx.n);
  const modes = ['outside', 'plain', 'engine'];
  const nNow = {};
  for (const o of ops) for (const m of modes) nNow[`${o.op}/${m}`] = m === 'engine' ? o.n.engine : o.n.native;
  if (ctx.quick) for (const k of Object.keys(nNow)) nNow[k] = Math.max(10, Math.round(nNow[k] * (targetMs / 200)));
  const samples = {};
  const failures = [];
  const statsList = [];
  for (let r = 0; r < roundsN; r++) {
    const order = r % 2 === 0 ? modes : [...modes].reverse();
    for (const mode of order) {
      const command = microCommand(ops, (o) => nNow[`${o.op}/${mode}`], pairs);
      await ctx.quiet();
      const res = await measure({ mode, srcDir: dir, command, workDir: ctx.workDir, label: 'micro', outsideDir: dir });
      if (!res.ok) {
        failures.push({ mode, round: r, status: res.status, message: res.message, stats: res.stats, failedLog: res.failedLog, logTail: res.logTail, engineLines: res.engineLines });
        ctx.log(`micro [${r + 1}/${roundsN}] ${mode}: ${res.status} — ${res.message}`);
        continue;
      }
      if (res.stats) statsList.push(res.stats);
      const line = [];
      for (const o of ops) {
        const { costs, perOp } = pairCosts(res.markers, o.op);
        const key = `${o.op}/${mode}`;
        (samples[key] ??= { costs: [], perOp: [], ns: [] }).costs.push(...costs);
        samples[key].perOp.push(...perOp);
        samples[key].ns.push(nNow[key]);
        const c = median(costs);
        line.push(`${o.op}=${c === null ? '?' : c.toFixed(0)}`);
        // refine N so that the N segment takes about targetMs
        if (c && c > 0) nNow[key] = Math.max(10, Math.round((targetMs * 1e6) / c));
      }
      ctx.log(`micro [${r + 1}/${roundsN}] ${mode.padEnd(7)} ns/op: ${line.join(' ')} (other load ${(res.foreignLoad ?? 0).toFixed(2)} CPUs)`);
    }
  }
  const floor = await ptraceFloor(ctx, dir);
  const results = ops.map((o) => {
    const row = { op: o.op, what: o.what };
    for (const m of modes) {
      const s = samples[`${o.op}/${m}`];
      if (!s) continue;
      row[m] = { ns: median(s.costs), minNs: min(s.costs.filter((x) => x > 0)), plainPerOpNs: median(s.perOp), samples: s.costs.length, n: s.ns };
    }
    return row;
  });
  return { family: 'micro', date: new Date().toISOString(), results, floor, failures, stats: statsList[0] ?? null, pairs, rounds: roundsN };
}

/** Variants of bench/micro/ptrace_floor.c: [tracee flags, tracer flags, description]; flags 1 = TSC faulting, 2 = CPUID faulting. */
export const FLOOR_VARIANTS = [
  [0, 0, 'no faulting armed anywhere'],
  [1, 0, 'tracee: TSC faulting; tracer: none'],
  [3, 0, 'tracee: TSC + CPUID faulting; tracer: none (the engine before commit ed4dfcc)'],
  [3, 2, 'tracee: TSC + CPUID faulting; tracer: CPUID faulting too (the engine from ed4dfcc to cc92d5f)'],
  [3, 3, 'tracee and tracer: TSC + CPUID faulting (the engine since b4b3a2f, src/supervisor/hostclock.c)'],
];

/** ns per ptrace stop of a minimal native tracer (it times itself: it never runs under the engine). */
async function ptraceFloor(ctx, dir) {
  const n = ctx.quick ? 10000 : 50000;
  const reps = ctx.quick ? 1 : 3;
  const rows = [];
  for (const [tracee, tracer, what] of FLOOR_VARIANTS) {
    const ns = [];
    for (let i = 0; i < reps; i++) {
      const r = await run(path.join(dir, 'ptrace_floor'), [String(n), String(tracee), String(tracer)]);
      const m = /STOP_NS=(\d+)/.exec(r.stdout);
      if (r.code === 0 && m) ns.push(Number(m[1]));
    }
    rows.push({ tracee, tracer, what, ns: median(ns), all: ns });
    ctx.log(`ptrace floor: ${what}: ${median(ns)} ns per stop`);
  }
  return { n, reps, rows };
}

// ------------------------------------------------------------ census (perf)

const TRAPPED = [
  ['openat', 'openat'],
  ['open', 'open'],
  ['clock_gettime', 'clock_gettime as a syscall'],
  ['gettimeofday', 'gettimeofday as a syscall'],
  ['time', 'time as a syscall'],
  ['getrandom', 'getrandom'],
  ['wait4', 'wait4 (engine run: includes the supervisor\'s own waitpid per stop)'],
  ['waitid', 'waitid'],
  ['futex', 'futex with a timeout', 'utime != 0'],
  ['nanosleep', 'nanosleep'],
  ['clock_nanosleep', 'clock_nanosleep'],
  ['poll', 'poll with a timeout >= 0', 'timeout_msecs < 2147483648'],
  ['epoll_pwait', 'epoll_pwait with a timeout >= 0', 'timeout < 2147483648'],
  ['epoll_wait', 'epoll_wait with a timeout >= 0', 'timeout < 2147483648'],
  ['ppoll', 'ppoll with a timeout', 'tsp != 0'],
  ['pselect6', 'pselect6'],
  ['uname', 'uname'],
  ['sched_getaffinity', 'sched_getaffinity'],
  ['sysinfo', 'sysinfo'],
];
const CONTEXT = [['execve', 'execve'], ['clone', 'clone'], ['clone3', 'clone3'], ['vfork', 'vfork'], ['gettid', 'gettid'], ['ptrace', 'ptrace (the supervisor)'], ['process_vm_readv', 'process_vm_readv (the supervisor)'], ['process_vm_writev', 'process_vm_writev (the supervisor)']];

async function perfCount(ctx, srcDir, command, mode) {
  const outDir = path.join(ctx.workDir, 'out', `census-${mode}-${Date.now()}`);
  const file = path.join(ctx.workDir, `census-${mode}.csv`);
  const ev = ['-e', 'raw_syscalls:sys_enter'];
  for (const [name, , filter] of [...TRAPPED, ...CONTEXT]) {
    if (!existsSync(`/sys/kernel/tracing/events/syscalls/sys_enter_${name}`)) continue;
    ev.push('-e', `syscalls:sys_enter_${name}`);
    if (filter) ev.push('--filter', filter);
  }
  const cli = path.join(benchDir, '..', 'dist', 'cli', 'main.js');
  const args = ['stat', '-x', ',', '-o', file, ...ev, '--', process.execPath, cli, 'build', srcDir, '--out', outDir, '-q', '--command', wrapCommand(mode, command)];
  if (mode === 'plain') args.splice(args.indexOf('--command'), 0, '--plain');
  const r = await run('perf', args);
  await fs.rm(outDir, { recursive: true, force: true });
  if (r.code !== 0) return { error: `perf/build exit ${r.code}: ${`${r.stdout}${r.stderr}`.trim().split('\n').slice(-5).join(' / ')}` };
  const counts = {};
  for (const line of (await fs.readFile(file, 'utf8')).split('\n')) {
    const f = line.split(',');
    const m = /^(?:raw_)?syscalls:sys_enter(?:_(\w+))?$/.exec(f[2] ?? '');
    if (m) counts[m[1] ?? 'ALL'] = Number(f[0]);
  }
  return { counts };
}

export async function census(ctx) {
  if ((await run('perf', ['stat', '-e', 'syscalls:sys_enter_openat', '--', 'true'])).code !== 0) {
    return { family: 'census', date: new Date().toISOString(), error: 'perf cannot count syscall tracepoints here' };
  }
  const workloads = [];
  const p = COMPILE_PROJECTS[0];
  if (!ctx.quick) {
    const src = await debianSource(p.pkg, ctx.log);
    const tree = await configuredForSandbox(src, `${PREAMBLE} ${p.configure}`, { measure, workDir: ctx.workDir, log: ctx.log });
    workloads.push({ name: `compile ${p.pkg} (make -j1)`, srcDir: tree, command: compileCommand(p) });
  }
  const g = await prepareGo(ctx);
  workloads.push({ name: 'go build -a', srcDir: g.dir, command: g.command });
  const j = await prepareJava(ctx);
  workloads.push({ name: `javac (${j.files} files)`, srcDir: j.dir, command: j.command });
  const rows = [];
  for (const w of workloads) {
    ctx.log(`census: ${w.name} (plain and engine under perf stat)`);
    const plain = await perfCount(ctx, w.srcDir, w.command, 'plain');
    const eng = await perfCount(ctx, w.srcDir, w.command, 'engine');
    rows.push({ name: w.name, plain, engine: eng });
  }
  return { family: 'census', date: new Date().toISOString(), trapped: TRAPPED.map(([n, d]) => [n, d]), context: CONTEXT, rows };
}

// ------------------------------------------------------------- (e) Python

/**
 * A Python-heavy build, the kind dh_python, Sphinx and test suites make:
 * byte-compiling the installed pure-Python modules (read from /usr, written
 * into the build tree, as dh_python3 does for a package), thirty import-heavy
 * interpreter starts, and a real Sphinx HTML build of a generated project.
 * Debian's /usr/bin/python3 in every mode (the host's PATH may hold others).
 */
const PY_COMPILE = `
import pathlib, py_compile, sys
roots = [pathlib.Path('/usr/lib/python3/dist-packages'), pathlib.Path('/usr/lib/python3.11')]
files = sorted(p for r in roots if r.is_dir() for p in r.rglob('*.py') if 'test' not in p.parts and 'tests' not in p.parts)
limit = int(sys.argv[1])
out = pathlib.Path('pyc')
n = 0
for f in files[:limit]:
    try:
        py_compile.compile(str(f), cfile=str(out / (str(f).lstrip('/') + 'c')), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        n += 1
    except (py_compile.PyCompileError, OSError, ValueError):
        pass
print('MODULES=%d' % n)
`;

const PY_IMPORTS = 'import argparse, asyncio, decimal, email.mime.multipart, http.client, json, logging.handlers, sqlite3, unittest, urllib.request, xml.dom.minidom, zipfile';

function sphinxProject(pages) {
  const files = {
    'conf.py': "project = 'bench'\nextensions = ['sphinx.ext.autodoc', 'sphinx.ext.todo']\nhtml_theme = 'alabaster'\n",
    'index.rst': `Bench\n=====\n\n.. toctree::\n   :maxdepth: 2\n\n${Array.from({ length: pages }, (_, i) => `   page${i}`).join('\n')}\n`,
  };
  for (let i = 0; i < pages; i++) {
    const sections = Array.from({ length: 6 }, (_, s) => `Section ${s}\n${'-'.repeat(`Section ${s}`.length)}\n\nSome *text* with \`\`code\`\` and a reference to :ref:\`label-${i}-${s}\`.\n\n.. _label-${i}-${s}:\n\n.. code-block:: python\n\n   def f${s}(x):\n       return x * ${s}\n\n.. note::\n   A note on page ${i}.\n`).join('\n');
    files[`page${i}.rst`] = `Page ${i}\n${'='.repeat(`Page ${i}`.length)}\n\n${sections}`;
  }
  return files;
}

async function preparePython(ctx) {
  const dir = path.join(ctx.workDir, 'python-src');
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(path.join(dir, 'docs'), { recursive: true });
  await fs.writeFile(path.join(dir, 'compile.py'), PY_COMPILE);
  for (const [name, text] of Object.entries(sphinxProject(ctx.quick ? 10 : 40))) await fs.writeFile(path.join(dir, 'docs', name), text);
  const modules = ctx.quick ? 300 : 1500;
  const starts = ctx.quick ? 10 : 30;
  const sphinx = existsSync('/usr/bin/sphinx-build');
  const command =
    `${PREAMBLE} export PYTHONDONTWRITEBYTECODE=1; rm -rf pyc _html; ` +
    `/usr/bin/python3 compile.py ${modules} || exit 1; ` +
    `i=0; while [ $i -lt ${starts} ]; do /usr/bin/python3 -c ${shq(PY_IMPORTS)} || exit 1; i=$((i+1)); done; echo STARTS=${starts}; ` +
    (sphinx ? `/usr/bin/python3 -m sphinx -q -b html -d _doctrees docs _html || exit 1; echo PAGES=$(ls _html/page*.html | wc -l); ` : 'echo PAGES=0; ') +
    `tar -C _html -cf "$DETBUILD_OUT/html.tar" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner . 2>/dev/null || true`;
  return { dir, command, modules, starts, sphinx };
}

export async function python(ctx) {
  const { dir, command, modules, starts, sphinx } = await preparePython(ctx);
  if (!sphinx) ctx.log('python: sphinx-build is not installed (apt-get install python3-sphinx): the Sphinx step is left out');
  const outsideDir = ctx.outside ? path.join(ctx.workDir, 'python-outside') : null;
  const fresh = outsideDir
    ? async () => {
        await fs.rm(outsideDir, { recursive: true, force: true });
        await runOk('cp', ['-a', '--', dir, outsideDir]);
      }
    : null;
  if (!ctx.quick) await warmUp(ctx, dir, command, 'python');
  const s = await rounds(ctx, { label: 'python', srcDir: dir, command, outsideDir, freshOutside: fresh, n: ctx.n, outsideRounds: ctx.outside ? ctx.n : 0, nofs: true });
  return {
    family: 'python',
    date: new Date().toISOString(),
    name: `Python: byte-compile up to ${modules} installed modules, ${starts} import-heavy starts${sphinx ? ', Sphinx HTML' : ''}`,
    command,
    ...s,
  };
}

// --------------------------------------------------------- (f) fixed cost

/**
 * What a build costs before and after its command: sandbox set-up, source
 * copy, supervisor and FUSE start, publishing. The command is `true` on a
 * ten-file tree, so the whole runBuild() ("with copy-in/publish") is the
 * fixed cost; outside, it is a `sh -c true`.
 */
export async function fixed(ctx) {
  const dir = path.join(ctx.workDir, 'fixed-src');
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  for (let i = 0; i < 10; i++) await fs.writeFile(path.join(dir, `f${i}.txt`), `file ${i}\n`);
  const command = 'echo ok > "$DETBUILD_OUT/ok"';
  const n = ctx.quick ? 3 : Math.max(5, ctx.n * 3);
  const s = await rounds(ctx, { label: 'fixed', srcDir: dir, command, outsideDir: ctx.outside ? dir : null, n, outsideRounds: ctx.outside ? n : 0 });
  return { family: 'fixed', date: new Date().toISOString(), name: 'fixed cost of one build (a command that writes one file)', command, ...s };
}

// --------------------------------------------------- (g) Debian packages

/**
 * `detbuild deb X.dsc` end to end (unpacking, dpkg-buildpackage -b under the
 * engine, publishing) against the same source package built on the bare host
 * (`dpkg-source -x`, then `dpkg-buildpackage -us -uc -b` under `taskset -c 0`
 * with DEB_BUILD_OPTIONS=parallel=1) and against `detbuild deb --plain`.
 * Packages: the corpus' CI subset, fetched by `sh test/corpus/fetch.sh --subset`;
 * a package the corpus builds with nocheck is built with it in every mode.
 */
export async function deb(ctx) {
  const { cachedDsc, loadCorpus } = await import('./corpus.mjs');
  const corpus = loadCorpus();
  const entries = corpus.packages.filter((e) => e.subset).slice(0, ctx.quick ? 1 : 2);
  const out = { family: 'deb', date: new Date().toISOString(), projects: [] };
  for (const entry of entries) {
    const name = entry.package;
    const dsc = await cachedDsc(entry);
    if (!dsc) {
      ctx.log(`deb: ${name} is not downloaded (sudo sh test/corpus/fetch.sh --subset): left out`);
      continue;
    }
    const runs = [];
    const n = ctx.n;
    for (let r = 0; r < n; r++) {
      const modes = roundModes(r, ctx.outside, false, ctx.noshim);
      for (const mode of modes) {
        await ctx.quiet();
        const res = await debRun(ctx, dsc, mode, `${name}-${mode}-${r}`, entry.timeStep, entry.nocheck === true);
        res.round = r;
        ctx.log(`deb ${name} [${r + 1}/${n}] ${mode.padEnd(8)} ${res.ok ? 'ok  ' : 'FAILED'} wall ${fmtMs(res.wallMs)}, cpu ${fmtMs(res.cpuMs)}, other load ${(res.foreignLoad ?? 0).toFixed(2)} CPUs${res.ok ? '' : ` — ${res.message}`}`);
        runs.push(res);
      }
    }
    out.projects.push({ name: path.basename(dsc, '.dsc'), pkg: name, command: `detbuild deb ${path.basename(dsc)} / dpkg-buildpackage -us -uc -b`, ...summarizeRuns(runs) });
  }
  return out;
}

/** nocheck: the package's test suite needs what the sandbox does not have (corpus.json says so): skipped in every mode. */
async function debRun(ctx, dsc, mode, label, timeStep, nocheck) {
  const { ForeignLoad, childCpuMs, nowMs } = await import('./util.mjs');
  const work = path.join(ctx.workDir, 'deb', label);
  await fs.rm(work, { recursive: true, force: true });
  await fs.mkdir(work, { recursive: true });
  const cli = path.join(benchDir, '..', 'dist', 'cli', 'main.js');
  // the engine's counters and stage times of the CLI's build (src/engine/stats-file.ts)
  const statsFile = path.join(ctx.workDir, 'deb', `${label}.stats.jsonl`);
  const env = { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8', TZ: 'UTC', DEB_BUILD_OPTIONS: nocheck ? 'parallel=1 nocheck' : 'parallel=1', DETBUILD_STATS_FILE: statsFile };
  if (mode === 'engine-noshim') env.DETBUILD_NO_STAT_SHIM = '1';
  else delete env.DETBUILD_NO_STAT_SHIM; // left set by an earlier part's engine-noshim run
  delete env.MAKEFLAGS;
  const cmd =
    mode === 'outside'
      ? ['sh', ['-c', `cd "$1" && dpkg-source -x "$2" src >/dev/null && cd src && exec taskset -c 0 dpkg-buildpackage -us -uc -b >../build.log 2>&1`, 'sh', work, dsc]]
      : [process.execPath, [cli, 'deb', dsc, '--out', path.join(work, 'out'), '--quiet', ...(nocheck ? ['--nocheck'] : []), ...(mode === 'plain' ? ['--plain'] : []), ...(mode.startsWith('engine') && timeStep ? ['--time-step', String(timeStep)] : [])]];
  const load = new ForeignLoad();
  const c0 = childCpuMs();
  const t0 = nowMs();
  const r = await run(cmd[0], cmd[1], { env });
  const wallMs = nowMs() - t0;
  const cpuMs = childCpuMs() - c0;
  const ok = r.code === 0;
  const artifacts = [];
  if (ok && mode !== 'outside') {
    const manifest = JSON.parse(await fs.readFile(path.join(work, 'out', 'manifest.json'), 'utf8'));
    for (const a of manifest.artifacts ?? []) artifacts.push({ path: a.path, sha256: a.sha256 });
  }
  await fs.rm(work, { recursive: true, force: true });
  const line = await fs
    .readFile(statsFile, 'utf8')
    .then((t) => JSON.parse(t.trim().split('\n').pop()))
    .catch(() => null);
  await fs.rm(statsFile, { force: true });
  return { mode, ok, status: ok ? 'success' : 'failed', message: ok ? 'ok' : `exit ${r.code}: ${`${r.stderr}`.trim().split('\n').slice(-1)[0]}`, wallMs, cpuMs, totalMs: wallMs, foreignLoad: load.cpus(), stats: line?.stats ?? null, timings: line?.timings ?? null, values: {}, artifacts, logTail: r.stderr.slice(-2000), engineLines: [], failedLog: null };
}
