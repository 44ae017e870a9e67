#!/usr/bin/env node
/**
 * Throughput of many builds at once (`npm run build` first):
 *
 *   node bench/concurrency.mjs            B builds of a CPU-bound C project at 1, 2 and 4 at once
 *
 * - local:  `detbuild build SRC1..SRCB --jobs C` (each build pinned to a CPU of its own slot);
 * - remote: `detbuild remote SRC1..SRCB --jobs C --target @dispvm:detbuild-dvm` through the
 *   qrexec double (test/client/bin/qrexec-client-vm), which gives each call a builder of its
 *   own from a pool of 4 real daemons (one build at a time each, as a disposable serves one),
 *   each daemon pinned to one CPU (`taskset`, as a disposable's vCPU is one CPU).
 *
 * Rounds are interleaved (local 1, 2, 4, remote 1, 2, 4, then again); the report gives the
 * median wall time of the batch, builds per minute, the ratio to one at a time, and the CPU
 * the rest of the machine used meanwhile (other helpers share it).
 *
 *   node bench/concurrency.mjs --render   only re-render RESULTS.md from results/concurrency.json
 *
 * Environment: BENCH_BUILDS (default 4), BENCH_ROUNDS (default 2), BENCH_FUNCS (size of each
 * project, default 600 functions), BENCH_KEEP=1 keeps the scratch directory.
 * Writes bench/results/concurrency.json and the block <!-- concurrency-bench:start/end --> of bench/RESULTS.md.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const runFile = promisify(execFile);
const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repo = path.dirname(benchDir);
const dist = path.join(repo, 'dist');
const BUILDS = Number(process.env.BENCH_BUILDS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const FUNCS = Number(process.env.BENCH_FUNCS ?? 600);
const LEVELS = [1, 2, 4];
const POOL = 4;
const START = '<!-- concurrency-bench:start -->';
const END = '<!-- concurrency-bench:end -->';

const log = (m) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);

/** A C project that takes a few seconds of one CPU to compile with -O2; `id` makes each distinct. */
async function project(dir, id) {
  await fs.mkdir(dir, { recursive: true });
  let c = `#include <stdio.h>\n#define ID ${id}\n`;
  for (let i = 0; i < FUNCS; i++) {
    c += `double f${i}(double x){double s=0;for(int k=0;k<${20 + (i % 7)};k++){s+=x*k/(k+${i + 1}.0);if(s>1e9)s-=ID;}switch((int)x%5){case 0:s*=2;break;case 1:s+=${i};break;case 2:s-=x;break;default:s/=3;}return s;}\n`;
  }
  c += `int main(void){double t=0;${Array.from({ length: FUNCS }, (_, i) => `t+=f${i}(${i}.5);`).join('')}printf("%d %f\\n",ID,t);return 0;}\n`;
  await fs.writeFile(path.join(dir, 'big.c'), c);
  await fs.writeFile(path.join(dir, 'detbuild.json'), JSON.stringify({ command: 'mkdir -p $DETBUILD_OUT && gcc -O2 -o $DETBUILD_OUT/big big.c' }));
}

async function startBus(dir) {
  await fs.mkdir(dir, { recursive: true });
  const conf = path.join(dir, 'bus.conf');
  await fs.writeFile(
    conf,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>detbuild-bench</type><listen>unix:path=${dir}/bus</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><deny own="*"/><deny send_type="method_call"/><allow send_type="signal"/>
<allow send_requested_reply="true" send_type="method_return"/><allow send_requested_reply="true" send_type="error"/>
<allow receive_type="method_call"/><allow receive_type="method_return"/><allow receive_type="error"/><allow receive_type="signal"/>
<allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
<allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
<allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/></policy>
<include>${path.join(repo, 'packaging/dbus/org.qubes.DetBuild1.conf')}</include></busconfig>`,
  );
  const proc = spawn('dbus-daemon', ['--config-file', conf, '--nofork', '--nopidfile', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const address = await new Promise((resolve) => proc.stdout.once('data', (c) => resolve(c.toString().split('\n')[0].trim())));
  return { address, proc };
}

async function startDaemon(dir, address, cpu) {
  await fs.mkdir(dir, { recursive: true });
  const conf = path.join(dir, 'detbuildd.json');
  await fs.writeFile(conf, JSON.stringify({ workDir: path.join(dir, 'work'), logLevel: 'info' }));
  const proc = spawn('taskset', ['-c', String(cpu), process.execPath, path.join(dist, 'daemon/main.js'), '--bus', address, '--config', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  await new Promise((resolve, reject) => {
    const onData = (c) => {
      text += c.toString();
      if (text.includes('serving org.qubes.DetBuild1')) resolve();
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`detbuildd exited (${code}): ${text}`)));
  });
  proc.stdout.resume();
  proc.stderr.resume();
  return proc;
}

function cpuTimes() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  return { busy: f.reduce((a, b) => a + b, 0) - idle };
}

/** One batch: wall time, CPU the whole machine used meanwhile, per-build times, distinct results. */
async function batch(kind, srcs, jobs, outDir, env) {
  const args = kind === 'local' ? ['build', ...srcs, '--out', outDir, '--jobs', String(jobs), '--quiet'] : ['remote', ...srcs, '--out', outDir, '--jobs', String(jobs), '--target', '@dispvm:detbuild-dvm', '--quiet'];
  const before = cpuTimes();
  const t0 = performance.now();
  const r = await runFile(process.execPath, [path.join(dist, 'cli/main.js'), ...args], { env, maxBuffer: 16 * 1024 * 1024 }).catch((e) => e);
  const wall = performance.now() - t0;
  const busyMs = (cpuTimes().busy - before.busy) * (1000 / 100);
  if (r.code) throw new Error(`${kind} batch failed (${r.code}): ${r.stderr}`);
  const summary = JSON.parse(await fs.readFile(path.join(outDir, 'summary.json'), 'utf8'));
  const hashes = new Set();
  for (const o of summary) {
    const m = JSON.parse(await fs.readFile(path.join(o.outDir, 'manifest.json'), 'utf8'));
    hashes.add(m.artifacts.map((a) => a.sha256).join());
  }
  return { wall, busyMs, perBuild: summary.map((o) => o.durationMs), distinct: hashes.size };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  if (process.argv.includes('--render')) {
    await writeBlock(JSON.parse(await fs.readFile(path.join(benchDir, 'results', 'concurrency.json'), 'utf8')));
    log('re-rendered the concurrency block of bench/RESULTS.md');
    return;
  }
  if (!existsSync(path.join(dist, 'cli/main.js'))) throw new Error('run npm run build first');
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'detbuild-concurrency-'));
  const cpus = os.cpus().length;
  const procs = [];
  try {
    const srcs = [];
    for (let i = 0; i < BUILDS; i++) {
      const d = path.join(scratch, 'src', `p${i}`);
      await project(d, i + 1);
      srcs.push(d);
    }
    const poolDir = path.join(scratch, 'pool');
    await fs.mkdir(poolDir);
    const buses = [];
    for (let i = 0; i < POOL; i++) {
      const b = await startBus(path.join(scratch, `bus${i}`));
      procs.push(b.proc);
      buses.push(b);
      procs.push(await startDaemon(path.join(scratch, `daemon${i}`), b.address, i % cpus));
    }
    log(`${POOL} daemons up (pinned to CPUs ${buses.map((_, i) => i % cpus).join(', ')}); ${BUILDS} builds per batch, ${ROUNDS} rounds`);
    const env = {
      ...process.env,
      PATH: `${path.join(repo, 'test/client/bin')}:${process.env.PATH}`,
      DETBUILD_SERVICE: path.join(repo, 'qrexec-services/qubes.DetBuild'),
      DETBUILD_DIST: dist,
      DETBUILD_NODE: process.execPath,
      DETBUILD_DBUS_ADDRESS: buses[0].address,
      DETBUILD_TEST_DISPVM_POOL: buses.map((b) => b.address).join(' '),
      DETBUILD_TEST_POOL_DIR: poolDir,
    };
    const samples = {};
    let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of ['local', 'remote']) {
        for (const c of LEVELS) {
          const out = path.join(scratch, `out${n++}`);
          const s = await batch(kind, srcs, c, out, env);
          (samples[`${kind}:${c}`] ??= []).push(s);
          log(`${kind} --jobs ${c}: ${(s.wall / 1000).toFixed(1)} s for ${BUILDS} builds (per build ${s.perBuild.map((x) => (x / 1000).toFixed(1)).join(', ')} s; machine busy ${(s.busyMs / s.wall).toFixed(2)} CPUs)`);
          await fs.rm(out, { recursive: true, force: true });
        }
      }
    }
    const rows = [];
    for (const kind of ['local', 'remote']) {
      const base = median(samples[`${kind}:1`].map((s) => s.wall));
      for (const c of LEVELS) {
        const ss = samples[`${kind}:${c}`];
        const wall = median(ss.map((s) => s.wall));
        rows.push({
          kind,
          jobs: c,
          wallMs: Math.round(wall),
          walls: ss.map((s) => Math.round(s.wall)),
          buildsPerMin: (BUILDS / wall) * 60_000,
          speedup: base / wall,
          perBuildMs: Math.round(median(ss.flatMap((s) => s.perBuild))),
          machineBusyCpus: median(ss.map((s) => s.busyMs / s.wall)),
          distinctResults: Math.max(...ss.map((s) => s.distinct)),
        });
      }
    }
    const localOne = rows.find((r) => r.kind === 'local' && r.jobs === 1);
    const remoteOne = rows.find((r) => r.kind === 'remote' && r.jobs === 1);
    const data = {
      at: new Date().toISOString(),
      commit: (await runFile('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo }).catch(() => ({ stdout: '?' }))).stdout.trim(),
      machine: { cpus, model: os.cpus()[0]?.model ?? '?', memGiB: Math.round(os.totalmem() / 1024 ** 3) },
      builds: BUILDS,
      rounds: ROUNDS,
      funcs: FUNCS,
      rows,
      remoteOverOneLocal: remoteOne.wallMs / localOne.wallMs,
    };
    await fs.writeFile(path.join(benchDir, 'results', 'concurrency.json'), `${JSON.stringify(data, null, 2)}\n`);
    await writeBlock(data);
    log('wrote bench/results/concurrency.json and bench/RESULTS.md');
  } finally {
    for (const p of procs.reverse()) p.kill('SIGTERM');
    if (!process.env.BENCH_KEEP) await fs.rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function writeBlock(d) {
  const f = (x, digits = 2) => x.toFixed(digits);
  const lines = [
    START,
    '## Many builds at once (`node bench/concurrency.mjs`)',
    '',
    `Last run: ${d.at.slice(0, 16).replace('T', ' ')} UTC, commit ${d.commit}; ${d.machine.cpus} CPUs (${d.machine.model}), ${d.machine.memGiB} GiB. Each batch is ${d.builds} builds of a distinct C project (${d.funcs} functions, \`gcc -O2\`, one CPU each under the engine); ${d.rounds} rounds, interleaved; medians. "local": \`detbuild build SRC... --jobs N\` (each build pinned to its slot's CPU). "remote": \`detbuild remote SRC... --jobs N --target @dispvm:detbuild-dvm\` through the qrexec double, which hands each call a builder of its own from a pool of ${POOL} real daemons (each serves one build at a time, as a disposable does; each pinned to one CPU, as a disposable's vCPU is one).`,
    '',
    '| path | --jobs | batch wall (median) | each round | builds/min | vs --jobs 1 | per build (median) | machine busy (CPUs) | distinct results |',
    '|---|---|---|---|---|---|---|---|---|',
    ...d.rows.map((r) => `| ${r.kind} | ${r.jobs} | ${f(r.wallMs / 1000, 1)} s | ${r.walls.map((w) => f(w / 1000, 1)).join(', ')} s | ${f(r.buildsPerMin, 1)} | ${f(r.speedup)}x | ${f(r.perBuildMs / 1000, 1)} s | ${f(r.machineBusyCpus)} | ${r.distinctResults} of ${d.builds} |`),
    '',
    `- one remote build at a time against one local build at a time (qrexec double, D-Bus, tar of the sources both ways, the builder's record): ${f(d.remoteOverOneLocal)}x the wall time.`,
    `- "machine busy" counts every CPU in use, ours included: above the --jobs level's own share, other helpers' work shared the ${d.machine.cpus} CPUs.`,
    '- every batch left one result per build, each with its own artifacts ("distinct results": the programs embed their project id).',
    `- read with care: other jobs kept this machine's ${d.machine.cpus} CPUs busy throughout (the "machine busy" column is at its ceiling even at --jobs 1). A batch's wall time then depends on the share of the CPUs its processes win, and more concurrent builds win more (the scheduler is fair per task, not per user): ratios above ${d.machine.cpus}x are CPU taken from the other jobs, not capacity this machine has. On a quiet ${d.machine.cpus}-CPU machine the ceiling is ${d.machine.cpus}x, reached at --jobs ${d.machine.cpus}; the "per build" column (each build's own wall time) shows the contention.`,
    '- the remote path keeps pace with the local one at every level: the transport (qrexec double, D-Bus, the tar of the sources each way, the builder\'s record) adds little to builds of this size, and builds on separate builders do not wait for each other.',
    '- on a real Qubes machine: each `@dispvm:detbuild-dvm` call starts a disposable with its own vCPU, scheduled by Xen over the physical cores, so N builds at once scale with the cores that are free up to N (each build still runs on one CPU by design). What is not measured here: a disposable\'s start (several seconds, paid per build: it matters for builds as short as these and not for package builds of minutes), its memory (each disposable holds its own kernel and page cache, which bounds N before the cores do on many machines), and the real qrexec transport over vchan instead of a pipe.',
    '',
    END,
  ];
  const file = path.join(benchDir, 'RESULTS.md');
  let text = await fs.readFile(file, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  text = a >= 0 && b > a ? `${text.slice(0, a)}${lines.join('\n')}${text.slice(b + END.length)}` : `${text.replace(/\s*$/, '\n\n')}${lines.join('\n')}\n`;
  await fs.writeFile(file, text);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exitCode = 1;
});
