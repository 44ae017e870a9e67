/**
 * bench/RESULTS.md: rendered from bench/results/engine.json (the latest record of
 * each family), written only between our markers so that sections other
 * benchmarks own (e.g. the stream benchmark's) are kept as they are.
 */
import { existsSync, promises as fs } from 'node:fs';
import { kindsText, splitStats } from './stops.mjs';
import { fmtMs, fmtNs, fmtRatio } from './util.mjs';

export const START = '<!-- engine-bench:start -->';
export const END = '<!-- engine-bench:end -->';
const TARGET_BUILD = 1.05;

function verdict(r, target = TARGET_BUILD) {
  if (r === null || r === undefined) return 'n/a';
  return r < target ? '**pass**' : '**FAIL**';
}

function loadNote(mode) {
  if (!mode?.loads?.length) return '';
  const worst = Math.max(...mode.loads);
  return worst >= 0.5 ? ` (other load up to ${worst.toFixed(1)} CPUs)` : '';
}

function machineLine(m) {
  if (!m) return '';
  return `${m.nproc} CPUs (${m.cpuModel}), ${m.memGiB} GiB, kernel ${m.kernel}, ${m.distro}; gcc ${m.gcc}, ${m.go}, javac ${m.javac}, ${m.bwrap}, node ${m.node}`;
}

function modeTable(s) {
  const rows = ['| mode | runs | wall (median) | wall of each run | CPU time (median) | with copy-in/publish | other load during runs (CPUs) |', '|---|---|---|---|---|---|---|'];
  const names = {
    plain: 'plain sandbox (`--plain`, `taskset -c 0`)',
    engine: 'engine (supervisor, pinned to one CPU)',
    'engine-nofs': 'engine without the filesystem view (`DETBUILD_NO_FS_VIEW=1`)',
    outside: 'outside any sandbox (`taskset -c 0`)',
  };
  for (const k of ['plain', 'engine', 'engine-nofs', 'outside']) {
    const m = s.modes?.[k];
    if (!m) continue;
    rows.push(`| ${names[k]} | ${m.n} | ${fmtMs(m.wallMs)} | ${m.walls.map((w) => fmtMs(w)).join(', ')} | ${fmtMs(m.cpuMs)} | ${fmtMs(m.totalMs)} | ${m.loads.join(', ')} |`);
  }
  return rows.join('\n');
}

function ratioLines(s) {
  const r = s.ratios ?? {};
  return [
    `- engine / plain, wall, ratio of medians: **${fmtRatio(r.engineVsPlainWall)}** (target < ${TARGET_BUILD}x: ${verdict(r.engineVsPlainWall)}); median of the per-round ratios: ${fmtRatio(r.engineVsPlainWallPaired)}`,
    `- engine / plain, CPU time of the build tree (supervisor included): ${fmtRatio(r.engineVsPlainCpu)}`,
    r.engineVsNoFsWall ? `- what the filesystem view costs, engine / engine without it: wall ${fmtRatio(r.engineVsNoFsWall)}, CPU ${fmtRatio(r.engineVsNoFsCpu)}` : null,
    r.engineVsOutsideWall ? `- engine / outside any sandbox (the bare host, \`taskset -c 0\`): wall **${fmtRatio(r.engineVsOutsideWall)}** (target < ${TARGET_BUILD}x: ${verdict(r.engineVsOutsideWall)}), CPU ${fmtRatio(r.engineVsOutsideCpu)}; the whole build with copy-in/publish ${fmtRatio(r.engineTotalVsOutside)} (plain sandbox / outside: wall ${fmtRatio(r.plainVsOutsideWall)}, whole ${fmtRatio(r.plainTotalVsOutside)})` : null,
    s.engineArtifactsIdentical === null ? null : `- engine runs produced identical artifacts: ${s.engineArtifactsIdentical ? 'yes' : '**no**'} (${s.engineArtifacts?.count ?? 0} files${s.engineArtifacts?.count === 1 ? `, \`${s.engineArtifacts.first[0].path}\` sha256 ${s.engineArtifacts.first[0].sha256.slice(0, 16)}…` : `, digest of their sha256s ${s.engineArtifacts?.digest?.slice(0, 16)}…`})`,
  ]
    .filter(Boolean)
    .join('\n');
}

function statsLine(s) {
  if (!s.stats) return '- supervisor counters: none reported';
  const split = splitStats(s.stats);
  const vary = s.statsVary?.length ? ` (varied between engine runs: ${s.statsVary.join('; ')})` : ' (the same in every engine run)';
  const lines = [`- supervisor counters (first engine run): ${split.base.map(([k, v]) => `${k} ${v}`).join(', ')}${vary}`];
  if (split.kinds.length) {
    const cpu = split.supervisorCpuUs !== null && s.modes?.engine?.cpuMs ? `; the supervisor's own CPU time ${fmtMs(split.supervisorCpuUs / 1000)} (${((split.supervisorCpuUs / 1000 / s.modes.engine.cpuMs) * 100).toFixed(1)}% of the build tree's)` : '';
    lines.push(`- supervisor stops per kind (first engine run, ${split.total?.toLocaleString('en-US')} in all${cpu}): ${kindsText(split, 12)}`);
  }
  return lines.join('\n');
}

/** what the build tree's stages took (median of the runs of a mode) */
function timingsLine(s) {
  const out = [];
  for (const mode of ['engine', 'plain']) {
    const t = s.modes?.[mode]?.timings;
    if (t) out.push(`- stages of runBuild(), ${mode} (median ms): ${Object.entries(t).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  return out.join('\n');
}

/** one row per workload: how many stops and of which kinds */
function stopsTable(data) {
  const rows = ['| benchmark | stops (engine run) | per second of the build tree\'s CPU | supervisor CPU / build tree CPU | the kinds that stop most |', '|---|---|---|---|---|'];
  const add = (name, s) => {
    const split = splitStats(s?.stats);
    if (!split?.kinds.length) return;
    const cpuMs = s.modes?.engine?.cpuMs;
    const perS = cpuMs ? Math.round((split.total / cpuMs) * 1000).toLocaleString('en-US') : '–';
    const sup = cpuMs && split.supervisorCpuUs !== null ? `${((split.supervisorCpuUs / 1000 / cpuMs) * 100).toFixed(1)}%` : '–';
    rows.push(`| ${name} | ${split.total.toLocaleString('en-US')} | ${perS} | ${sup} | ${kindsText(split, 5)} |`);
  };
  for (const p of data.compile?.projects ?? []) add(`compile ${p.pkg}`, p);
  add('go build -a', data.go);
  add('javac', data.java);
  for (const p of data.deb?.projects ?? []) add(`detbuild deb ${p.pkg}`, p);
  add('python', data.python);
  add('configure (bash)', data.configure);
  add('fixed cost (one small build)', data.fixed);
  return rows.length > 2 ? rows.join('\n') : '';
}

function failuresBlock(list) {
  if (!list?.length) return '';
  const out = ['', '**Failures:**', ''];
  for (const f of list) {
    out.push(`- ${f.mode}, round ${f.round + 1}: ${f.status} — ${f.message}${f.failedLog ? ` (log kept at \`${f.failedLog}\`)` : ''}`);
    if (f.stats) out.push(`  counters: \`${JSON.stringify(f.stats)}\``);
    const tail = [...(f.engineLines ?? []).slice(-10), ...(f.logTail ?? '').split('\n').slice(-15)].filter(Boolean);
    if (tail.length) out.push('', '  ```', ...tail.map((l) => `  ${l}`), '  ```');
  }
  return out.join('\n');
}

function buildSection(title, rec, extra = []) {
  if (!rec) return '';
  const out = [`### ${title}`, '', `_Run ${rec.date.slice(0, 16).replace('T', ' ')} UTC${rec.quick ? ', BENCH_QUICK' : ''}${rec.supervisor ? `, supervisor binary ${rec.supervisor}` : ''}._ `, ...extra, '', modeTable(rec), '', ratioLines(rec), statsLine(rec)];
  const tl = timingsLine(rec);
  if (tl) out.push(tl);
  const byMode = Object.entries(rec.valuesByMode ?? {});
  const vals = Object.entries(rec.values ?? {});
  if (byMode.length) out.push(`- reported by the build: ${byMode.map(([m, v]) => `${m}: ${Object.entries(v).map(([k, x]) => `${k}=${x}`).join(', ')}`).join('; ')}`);
  else if (vals.length) out.push(`- reported by the build: ${vals.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  out.push(failuresBlock(rec.failures));
  return out.join('\n');
}

function summaryRows(data) {
  const rows = ['| benchmark | engine / plain (wall) | per-round median | CPU ratio | engine / bare host (wall) | engine / bare host (CPU) | of which the filesystem view (CPU) | target | verdict vs plain (wall / CPU) | verdict vs bare host (wall / CPU) |', '|---|---|---|---|---|---|---|---|---|---|'];
  const add = (name, s) => {
    if (!s) return;
    const r = s.ratios ?? {};
    const failed = s.failures?.length ? ` (${s.failures.length} failed run(s))` : '';
    rows.push(`| ${name} | ${fmtRatio(r.engineVsPlainWall)}${loadNote(s.modes?.engine)} | ${fmtRatio(r.engineVsPlainWallPaired)} | ${fmtRatio(r.engineVsPlainCpu)} | ${fmtRatio(r.engineVsOutsideWall)} | ${fmtRatio(r.engineVsOutsideCpu)} | ${fmtRatio(r.engineVsNoFsCpu)} | < ${TARGET_BUILD}x | ${verdict(r.engineVsPlainWall)} / ${verdict(r.engineVsPlainCpu)}${failed} | ${verdict(r.engineVsOutsideWall)} / ${verdict(r.engineVsOutsideCpu)} |`);
  };
  for (const p of data.compile?.projects ?? []) add(`(a) compile: ${p.name}, make -j1${p.values?.TUS ? `, ${p.values.TUS} TUs` : ''}`, p);
  add(`(b) ${data.go?.name ?? 'go'}${data.go?.values?.PKGS ? `, ${data.go.values.PKGS} packages` : ''}`, data.go);
  add(`(c) ${data.java?.name ?? 'javac'}${data.java?.values?.CLASSES ? `, ${data.java.values.CLASSES} classes` : ''}`, data.java);
  for (const p of data.deb?.projects ?? []) add(`(g) Debian package ${p.name}: detbuild deb vs dpkg-buildpackage`, p);
  add(`(e) ${data.python?.name ?? 'python'}${data.python?.values?.MODULES ? ` (${data.python.values.MODULES} modules compiled)` : ''}`, data.python);
  if (data.configure) add(`configure of ${data.configure.name} (not a target; fork/exec-heavy)`, data.configure);
  const f = data.fixed?.modes;
  if (f?.engine && f.outside) rows.push(`| (f) fixed cost of one build (sandbox, copy-in, supervisor, publish) | whole runBuild: engine ${fmtMs(f.engine.totalMs)}, plain ${fmtMs(f.plain?.totalMs)}; bare \`sh -c\` ${fmtMs(f.outside.totalMs)} | | | | | | reported | |  |`);
  const micro = data.micro?.results ?? [];
  const get = (op) => micro.find((r) => r.op === op);
  const tr = (op, label, target, pass) => {
    const r = get(op);
    if (!r?.engine) return;
    rows.push(`| (d) ${label} | ${fmtNs(r.engine.ns)} under the engine (native ${fmtNs(r.outside?.ns)}) | | | | | ${target} | ${pass(r.engine.ns) ? '**pass**' : '**FAIL**'} |`);
  };
  tr('vdso_clock', 'time read, C `clock_gettime` (vDSO)', 'tens of ns', (ns) => ns < 100);
  tr('go_time_now', 'time read, Go `time.Now()`', 'tens of ns', (ns) => ns < 100);
  const floor = data.micro?.floor?.rows?.find((r) => r.tracee === 0 && r.tracer === 0)?.ns;
  tr('raw_clock', 'trapped `clock_gettime` syscall', `≈2-4 µs (prior art)${floor ? `; a bare ptrace stop here: ${fmtNs(floor)}` : ''}`, (ns) => ns <= 4000);
  const rawClock = get('raw_clock')?.engine?.ns;
  const statTarget = rawClock ? `≤ 1.5 × a trapped clock_gettime (${fmtNs(rawClock * 1.5)}): one stop, no second one at the exit` : 'one stop';
  tr('fstat', '`fstat` (the filesystem view)', statTarget, (ns) => !rawClock || ns <= rawClock * 1.5);
  tr('stat_path', '`stat` of a path (the filesystem view)', statTarget, (ns) => !rawClock || ns <= rawClock * 1.5);
  return rows.join('\n');
}

function microSection(rec) {
  if (!rec) return '';
  const out = [
    '### (d) Microbenchmarks',
    '',
    `_Run ${rec.date.slice(0, 16).replace('T', ' ')} UTC${rec.quick ? ', BENCH_QUICK' : ''}${rec.supervisor ? `, supervisor binary ${rec.supervisor}` : ''}; ${rec.rounds} rounds × ${rec.pairs} (N, 2N) pairs per mode._`,
    '',
    'Cost of one operation = (T(2N) − T(N)) / N, where T is the time between the `B op n` and `E op n` lines the program writes around its loop, stamped by bench/run.mjs as they arrive on the pipe (outside the sandbox: inside, every clock is logical). Median over all pairs; "best" is the smallest pair. N is re-chosen after each round so that a loop of N takes about 0.2 s.',
    '',
    '| operation | native (outside, `taskset -c 0`) | plain sandbox | engine | engine − native | best engine pair |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of rec.results) {
    const d = r.engine?.ns != null && r.outside?.ns != null ? r.engine.ns - r.outside.ns : null;
    out.push(`| ${r.what} | ${fmtNs(r.outside?.ns)} | ${fmtNs(r.plain?.ns)} | ${fmtNs(r.engine?.ns)} | ${fmtNs(d)} | ${fmtNs(r.engine?.minNs)} |`);
  }
  if (rec.floor?.rows?.length) {
    out.push(
      '',
      `**The floor under one supervisor stop** (bench/micro/ptrace_floor.c, run natively, tracer and tracee on CPU 0, ${rec.floor.n} stops, median of ${rec.floor.reps}): a minimal tracer answering a SECCOMP_RET_TRACE'd \`clock_gettime\` with GETREGS + process_vm_writev + SETREGS + CONT, the same calls the supervisor makes.`,
      '',
      '| tracee / tracer | ns per stop |',
      '|---|---|',
      ...rec.floor.rows.map((r) => `| ${r.what} | ${fmtNs(r.ns)} |`),
    );
  }
  if (rec.stats) out.push('', `Supervisor counters of one engine run of all the loops: ${Object.entries(rec.stats).filter(([k]) => k !== 'exitCode' && k !== 'signal').map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  out.push(failuresBlock(rec.failures));
  return out.join('\n');
}

function censusSection(rec) {
  if (!rec) return '';
  if (rec.error) return `### Syscall census\n\n${rec.error}\n`;
  const out = [
    '### Syscall census (what the engine stops on, per build)',
    '',
    `_Run ${rec.date.slice(0, 16).replace('T', ' ')} UTC._ One plain and one engine run of each build under \`perf stat\` (syscall tracepoints, counted over the whole CLI process tree). In the plain run these are the calls the engine would stop on; a call the supervisor answers itself is skipped and so is not counted under its own name in the engine run. The counts include the CLI's own node process (its event loop is most of the epoll_pwait calls). In the engine run, wait4, ptrace and process_vm_* include the supervisor's work: about one wait4 and three ptrace calls per stop.`,
    '',
  ];
  const names = [...rec.trapped.map(([n]) => n), ...rec.context.map(([n]) => n)];
  out.push(`| syscall | ${rec.rows.map((r) => `${r.name}: plain | engine`).join(' | ')} |`);
  out.push(`|---|${rec.rows.map(() => '---|---').join('|')}|`);
  const cell = (x, n) => (x?.counts ? (x.counts[n] ?? 0).toLocaleString('en-US') : '–');
  out.push(`| all syscalls | ${rec.rows.map((r) => `${cell(r.plain, 'ALL')} | ${cell(r.engine, 'ALL')}`).join(' | ')} |`);
  for (const n of names) {
    if (rec.rows.every((r) => !(r.plain?.counts?.[n] || r.engine?.counts?.[n]))) continue;
    const desc = [...rec.trapped, ...rec.context].find(([k]) => k === n)?.[1] ?? n;
    out.push(`| ${desc} | ${rec.rows.map((r) => `${cell(r.plain, n)} | ${cell(r.engine, n)}`).join(' | ')} |`);
  }
  for (const r of rec.rows) for (const m of ['plain', 'engine']) if (r[m]?.error) out.push('', `${r.name} ${m}: ${r[m].error}`);
  return out.join('\n');
}

export function render(data) {
  const meta = data.meta ?? {};
  const parts = [
    START,
    '## Determinism engine overhead (`npm run bench`, bench/run.mjs)',
    '',
    `Last run: ${meta.date ?? '?'} (parts: ${meta.parts?.join(', ') ?? '?'}${meta.quick ? ', BENCH_QUICK=1' : ''}; N=${meta.n ?? '?'}), commit ${meta.commit ?? '?'}; each section below gives the time of its own run. Analysis of these numbers: [README.md](README.md#findings-2026-11-25).`,
    '',
    `Machine: ${machineLine(data.machine)}.`,
    '',
    'Every number below is a ratio or a difference of runs made in the same bench run, interleaved (plain, engine, engine, plain, …), medians of N. ' +
      '"plain" is the same bubblewrap sandbox without the supervisor (`mode: plain`), its command under `taskset -c 0` so that it has one CPU like the engine\'s build tree; ' +
      '"outside" is the same command on the host under `taskset -c 0`, no sandbox. ' +
      'Wall time runs from the engine\'s `run` stage to the exit of the build\'s last process (copying the sources in and publishing the artifacts are excluded; "with copy-in/publish" is the whole runBuild). ' +
      'CPU time is what the build tree used (bwrap, supervisor, every build process), from a cpuacct cgroup the bench runs in, less the bench process\'s own; it moves far less than wall time when other work shares this 2-CPU machine. ' +
      '"Other load" is the CPU the rest of the machine used during a run (a run is started only after a quiet second, waiting at most 30 s). ' +
      'Nothing here is asserted; targets are reported as pass/fail, on the wall-time ratio and, because other jobs share this machine and make wall time noisy, on the CPU-time ratio too.',
    '',
    '### Summary against the targets',
    '',
    summaryRows(data),
    '',
  ];
  const st = stopsTable(data);
  if (st) parts.push('### Where the engine stops (supervisor counters per workload)', '', 'Each stop is one round trip between a build thread and the supervisor: a ptrace stop, or for the stat family a seccomp user notification ("(notification)"), answered by a thread of the supervisor without ptrace. Kinds: a system call name is a seccomp stop at its entry; "(exit)" the stop at its exit (timed waits, reaps, file changes); "(event)" fork/clone/exec; SIGSEGV the emulated rdtsc and cpuid. The supervisor\'s own CPU time per kind appears with `DETBUILD_PROFILE=1`; `DETBUILD_NO_NOTIFY=1` sends the stat family through ptrace again.', '', st, '');
  if (data.compile) {
    for (const p of data.compile.projects) {
      parts.push(buildSection(`(a) Compile: ${p.name} from Debian sources, \`make -j1\``, { ...p, date: data.compile.date, quick: data.compile.quick, supervisor: data.compile.supervisor }, [
        '',
        `Configured once per machine inside the sandbox (\`${p.command.split(' (once')[0]}\`, cached under \`$DETBUILD_CACHE/bench\`); the timed command is \`make -j1\` on a fresh copy of that tree, then copies \`${p.pkg}\` to the artifacts.`,
      ]), '');
    }
  }
  if (data.configure) parts.push(buildSection(`Configure: \`${data.configure.command}\` of ${data.configure.name}`, data.configure, ['', 'Reported separately from the compile: a shell script of thousands of short processes, each one an exec the supervisor sets up and a wait4 it stops on.']), '');
  if (data.go) parts.push(buildSection('(b) Go toolchain: `go build -a`', data.go, ['', `Debian's golang-go, offline, fresh GOCACHE inside the build directory each run: \`${data.go.command.replace(/\|/g, '\\|')}\`.`]), '');
  if (data.java) parts.push(buildSection('(c) Java: `javac` of generated classes', data.java, ['', `OpenJDK 17; ${data.java.sourceFiles} generated sources (bench/lib/javagen.mjs: classes in 8 packages calling each other, a record, lambdas and a switch expression each).`]), '');
  if (data.python) parts.push(buildSection('(e) Python: byte-compiling, interpreter starts, Sphinx', data.python, ['', "Debian's /usr/bin/python3: `py_compile` of installed pure-Python modules (read from /usr, written into the build tree, as dh_python3 does), import-heavy interpreter starts, and `sphinx -b html` of a generated project (bench/lib/families.mjs)."]), '');
  for (const p of data.deb?.projects ?? []) parts.push(buildSection(`(g) Debian package ${p.name}: \`detbuild deb\` end to end`, { ...p, date: data.deb.date, quick: data.deb.quick, supervisor: data.deb.supervisor }, ['', 'The whole `detbuild deb` (unpacking, `dpkg-buildpackage -us -uc -b`, publishing) against the same package built on the bare host (`dpkg-source -x`, then `taskset -c 0 dpkg-buildpackage -us -uc -b`, `DEB_BUILD_OPTIONS=parallel=1`). Wall and CPU time are of the whole command in every mode.']), '');
  if (data.fixed) parts.push(buildSection('(f) The fixed cost of a build', data.fixed, ['', 'A command that writes one file, on a ten-file tree: "with copy-in/publish" is the whole `runBuild()` (sandbox set-up, source copy and hash, supervisor and FUSE start, publishing), against a bare `sh -c` of the same command.']), '');
  if (data.micro) parts.push(microSection(data.micro), '');
  if (data.census) parts.push(censusSection(data.census), '');
  if (data.notes?.length) parts.push('### Observations', '', ...data.notes.map((n) => `- ${n}`), '');
  parts.push(END);
  return parts.join('\n');
}

/** Replaces our block in RESULTS.md (or adds it), leaving everything else as it was. */
export async function writeResults(file, data) {
  const block = render(data);
  let text = existsSync(file) ? await fs.readFile(file, 'utf8') : '# Benchmark results\n\n';
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a >= 0 && b > a) text = `${text.slice(0, a)}${block}${text.slice(b + END.length)}`;
  else text = `${text.replace(/\s*$/, '\n\n')}${block}\n`;
  await fs.writeFile(file, text);
}
