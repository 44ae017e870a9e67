#!/usr/bin/env node
/**
 * npm run bench — the determinism engine's overhead, measured as ratios of
 * runs made in the same bench run (see bench/README.md).
 *
 *   node bench/run.mjs [PART...]     PART: compile configure go java python deb fixed micro census (default: all)
 *   node bench/run.mjs --render      only re-render RESULTS.md from results/engine.json
 *
 * Environment:
 *   BENCH_QUICK=1        a fast smoke run (one round, smaller workloads, no outside runs)
 *   BENCH_N=5            rounds per build benchmark (default 3; 1 with BENCH_QUICK)
 *   BENCH_OUTSIDE=0      skip the runs outside any sandbox
 *   BENCH_QUIET_WAIT=0   do not wait for a quiet moment before each run
 *   BENCH_MICRO_OPS=a,b  only these microbenchmark ops
 *   BENCH_KEEP=1         keep the scratch directory
 *   DETBUILD_CACHE       where Debian sources and configured trees are cached
 *                        (default $HOME/.cache/detbuild)
 *
 * Writes bench/results/engine.json (the latest record of each part) and the engine's
 * block of bench/RESULTS.md (between <!-- engine-bench:start/end -->).
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as families from './lib/families.mjs';
import { writeResults } from './lib/report.mjs';
import { engine } from './lib/measure.mjs';
import { fmtMs, machineInfo, nowMs, run, setupCpuAccounting, teardownCpuAccounting, waitQuiet } from './lib/util.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoDir = path.dirname(benchDir);
const ALL = ['compile', 'configure', 'go', 'java', 'python', 'deb', 'fixed', 'micro', 'census'];

/** Short sha256 of the supervisor binary: others rebuild it while the bench runs, and each part records which one it measured. */
function supervisorId() {
  try {
    return createHash('sha256').update(readFileSync(path.join(repoDir, 'native', 'detbuild-supervisor'))).digest('hex').slice(0, 12);
  } catch {
    return 'absent';
  }
}

function log(msg) {
  const t = new Date().toISOString().slice(11, 19);
  process.stdout.write(`${t} ${msg}\n`);
}

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0].replace(/^#!.*\n\/\*\*?/, '').replace(/^ \* ?/gm, ''));
    return 0;
  }
  if (args.includes('--render')) {
    const data = JSON.parse(await fs.readFile(path.join(benchDir, 'results', 'engine.json'), 'utf8'));
    await writeResults(path.join(benchDir, 'RESULTS.md'), data);
    log('re-rendered bench/RESULTS.md from bench/results/engine.json');
    return 0;
  }
  const parts = args.length ? args : ALL;
  for (const p of parts) if (!ALL.includes(p)) throw new Error(`unknown part '${p}' (parts: ${ALL.join(', ')})`);
  const quick = process.env.BENCH_QUICK === '1';
  const n = Number(process.env.BENCH_N || (quick ? 1 : 3));
  const outside = process.env.BENCH_OUTSIDE ? process.env.BENCH_OUTSIDE !== '0' : !quick;
  const quietWait = process.env.BENCH_QUIET_WAIT !== '0';
  if (!existsSync(path.join(repoDir, 'native', 'detbuild-supervisor')) || !existsSync(path.join(repoDir, 'dist', 'engine', 'index.js'))) {
    throw new Error("the engine is not built: run 'npm run build' first");
  }
  await engine();
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'detbuild-bench-'));
  let quietBudget = 5 * 60_000;
  const ctx = {
    workDir,
    quick,
    // BENCH_NOSHIM=1: each round also runs the engine with the stat shim loaded but not answering
    // (DETBUILD_NO_STAT_SHIM=1), instead of the engine without its filesystem view
    noshim: process.env.BENCH_NOSHIM === '1',
    n,
    outside,
    log,
    microOps: process.env.BENCH_MICRO_OPS ? process.env.BENCH_MICRO_OPS.split(',') : null,
    async quiet() {
      if (!quietWait || quietBudget <= 0) return;
      const waited = await waitQuiet({ threshold: 0.3, maxMs: Math.min(30_000, quietBudget) });
      if (waited > 1500) log(`  (waited ${fmtMs(waited)} for the machine to be quiet)`);
      quietBudget -= Math.max(0, waited - 1000);
    },
  };
  const accounting = setupCpuAccounting();
  process.on('exit', teardownCpuAccounting);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      teardownCpuAccounting();
      process.exit(130);
    });
  }
  const machine = machineInfo();
  const commit = (await run('git', ['-C', repoDir, 'rev-parse', '--short', 'HEAD'])).stdout.trim() || '?';
  const dirty = (await run('git', ['-C', repoDir, 'status', '--porcelain', '--', 'src'])).stdout.trim() ? ' (src/ has uncommitted changes)' : '';
  log(`bench: parts ${parts.join(' ')}; N=${n}${quick ? ' (quick)' : ''}; outside runs ${outside ? 'on' : 'off'}; scratch ${workDir}`);
  log(`CPU accounting: ${accounting}`);
  log(`machine: ${machine.nproc} CPUs, ${machine.cpuModel}, kernel ${machine.kernel}`);

  const resultsFile = path.join(benchDir, 'results', 'engine.json');
  let data = {};
  try {
    data = JSON.parse(await fs.readFile(resultsFile, 'utf8'));
  } catch {
    data = {};
  }
  const t0 = nowMs();
  let failed = 0;
  for (const part of parts) {
    const tp = nowMs();
    log(`== ${part}`);
    const sup0 = supervisorId();
    try {
      const rec = await families[part](ctx);
      const sup1 = supervisorId();
      rec.quick = quick;
      rec.commit = commit;
      rec.supervisor = sup0 === sup1 ? sup0 : `${sup0} -> ${sup1} (rebuilt during this part: its runs mix two engines)`;
      if (sup0 !== sup1) log(`${part}: WARNING the supervisor binary changed during this part (${sup0} -> ${sup1})`);
      data[part] = rec;
      const fails = rec.failures?.length ?? rec.projects?.reduce((a, p) => a + (p.failures?.length ?? 0), 0) ?? 0;
      if (fails) failed += fails;
    } catch (err) {
      failed++;
      log(`${part}: ERROR ${err.stack ?? err}`);
      data[part] = { family: part, date: new Date().toISOString(), error: String(err.message ?? err) };
    }
    log(`== ${part} took ${fmtMs(nowMs() - tp)}`);
    data.machine = machine;
    data.meta = { date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', parts, quick, n, commit: commit + dirty };
    await fs.writeFile(resultsFile, `${JSON.stringify(data, null, 1)}\n`);
    await writeResults(path.join(benchDir, 'RESULTS.md'), data);
  }
  log(`bench done in ${fmtMs(nowMs() - t0)}; ${failed ? `${failed} failed run(s), see RESULTS.md` : 'no failed runs'}; wrote bench/RESULTS.md and bench/results/engine.json`);
  if (process.env.BENCH_KEEP === '1') log(`scratch kept: ${workDir}`);
  else await fs.rm(workDir, { recursive: true, force: true });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(`bench: ${err.stack ?? err}`);
    process.exit(1);
  },
);
