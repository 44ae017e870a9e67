#!/usr/bin/env node
/**
 * npm run corpus — real Debian source packages (test/corpus/corpus.json),
 * each built twice plainly (dpkg-buildpackage -us -uc -b on the host, as a
 * rebuilder runs it) and twice under the engine (`detbuild deb`), run A and
 * run B of each pair under the two sets of conditions reprotest varies (build
 * path, user, host name, kernel, time, file order, CPUs, locale, TZ, umask,
 * HOME, PATH, environment; bench/lib/corpus-conditions.mjs).  A package is
 * reproducible when both runs give the same .debs; diffoscope explains what
 * differs and which variation it points at.  Needs root (other users, UTS
 * namespace, disorderfs).
 *
 *   node bench/corpus.mjs [--only PKG,PKG] [--fresh] [--render]
 *
 *   --only     just these packages (results of the others are kept)
 *   --fresh    rebuild even when a run's result is cached
 *   --render   only re-render bench/RESULTS.md from bench/results/corpus.json
 *   --plain-only  only the plain pairs (a quick screen: which packages differ plainly)
 *   --rpm-only    only the RPM rows (test/corpus/rpm.json, bench/lib/rpm-corpus.mjs), which
 *                 otherwise run after the Debian packages (block corpus-rpm of bench/RESULTS.md)
 *
 * Needs the sources and build dependencies: `sudo sh test/corpus/fetch.sh`
 * (all) first.  Runs are cached under ${DETBUILD_CACHE:-~/.cache/detbuild}/corpus.
 * Writes bench/results/corpus.json and the corpus block of bench/RESULTS.md
 * (between <!-- corpus:start --> and <!-- corpus:end -->).
 */
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  REPROTEST_CONDITIONS as CONDITIONS, VARIATIONS, buildVaried, cacheRoot, conditionsUnavailable, cachedDsc, variedSummary as conditionSummary, differingDebs, diffoscopeSummary,
  loadCorpus, qubesDsc, repoDir, sameArtifacts, sleep, unmetBuildDeps,
} from './lib/corpus.mjs';
import { runRpmCorpus } from './lib/rpm-corpus.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const resultsFile = path.join(benchDir, 'results', 'corpus.json');
const GAP_MS = 3000;
/** A run A is quiet when the machine's other CPU was busy less than this share of it. */
const QUIET_SHARE = 0.1;
const isQuiet = (r) => typeof r.otherBusy?.plainA === 'number' && typeof r.otherBusy?.engineA === 'number' && r.otherBusy.plainA < QUIET_SHARE && r.otherBusy.engineA < QUIET_SHARE;
/** Marks results measured under bench/lib/corpus-conditions.mjs (older ones are dropped). */
const CONDITIONS_ID = 'reprotest-0.7.23-variations';
let plainOnly = false;

function log(msg) {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`);
}

async function cachedRun(dir, fresh, fn) {
  const file = path.join(dir, 'run.json');
  if (!fresh && existsSync(file)) {
    const r = JSON.parse(await fs.readFile(file, 'utf8'));
    if (r.ok && existsSync(r.outDir)) return { ...r, cached: true };
  }
  const r = await fn();
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(file, `${JSON.stringify({ ...r, at: new Date().toISOString() }, null, 2)}\n`);
  return r;
}

/** Two runs of one mode, A then (GAP_MS after A ended) B. */
async function pair(entry, dsc, mode, base, fresh) {
  const runs = {};
  for (const which of ['A', 'B']) {
    const cond = CONDITIONS[which];
    const dir = path.join(base, `${mode}-${which}`);
    runs[which] = await cachedRun(dir, fresh, async () => {
      if (which === 'B') await sleep(GAP_MS);
      log(`  ${entry.package}: ${mode} run ${which} (${conditionSummary(cond)})`);
      return buildVaried(dsc, mode, cond, path.join(dir, 'out'), { nocheck: entry.nocheck === true, timeStep: entry.timeStep ?? null });
    });
    const r = runs[which];
    log(`  ${entry.package}: ${mode} ${which} ${r.ok ? 'ok' : `FAILED (${r.message})`} ${(r.ms / 1000).toFixed(1)} s${r.cached ? ' (cached)' : ''}`);
    if (!r.ok) break;
  }
  return runs;
}

async function explain(a, b, base, mode) {
  const diff = differingDebs(a, b);
  if (diff.length === 0) return null;
  const lines = [];
  for (const name of diff.slice(0, 2)) {
    lines.push(await diffoscopeSummary(a, b, name, path.join(base, `diffoscope-${mode}-${name}.txt`)));
  }
  if (diff.length > 2) lines.push(`(+${diff.length - 2} more .debs)`);
  return lines.join('; ');
}

async function one(entry, fresh) {
  const rec = { package: entry.package, version: entry.version ?? null, role: entry.role, expectedCause: entry.expectedCause ?? null, notes: entry.notes ?? null };
  let dsc;
  if (entry.upstream) {
    const q = await qubesDsc(entry);
    if (!q.dsc) return { ...rec, status: 'skipped', message: q.reason };
    dsc = q.dsc;
    rec.commit = q.commit;
    rec.version = path.basename(dsc, '.dsc').split('_')[1];
  } else {
    dsc = await cachedDsc(entry);
    if (!dsc) return { ...rec, status: 'skipped', message: `source not downloaded: sudo sh test/corpus/fetch.sh ${entry.package}` };
  }
  const unmet = await unmetBuildDeps(dsc);
  if (unmet) return { ...rec, status: 'skipped', message: `build dependencies not installed: ${unmet}` };
  const base = path.join(cacheRoot(), 'corpus-varied', path.basename(dsc, '.dsc'));
  const plain = await pair(entry, dsc, 'plain', base, fresh);
  if (plainOnly) {
    const ok = plain.A?.ok && plain.B?.ok;
    return { ...rec, status: ok ? 'plain-only' : 'build-failed', plainReproducible: ok ? differingDebs(plain.A, plain.B).length === 0 : null, plainCause: ok ? await explain(plain.A, plain.B, base, 'plain') : null, times: { plainA: plain.A?.ms ?? null, plainB: plain.B?.ms ?? null }, message: ok ? 'plain runs only (--plain-only)' : `${plain.A?.ok ? 'B' : 'A'}: ${(plain.A?.ok ? plain.B : plain.A)?.message}`, logTail: (plain.A?.ok ? plain.B : plain.A)?.logTail };
  }
  const engine = await pair(entry, dsc, 'deterministic', base, fresh);
  const runs = { plainA: plain.A, plainB: plain.B, engineA: engine.A, engineB: engine.B };
  const failed = Object.entries(runs).filter(([, r]) => r && !r.ok);
  rec.times = Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, r ? r.ms : null]));
  if (failed.length) return { ...rec, status: 'build-failed', message: failed.map(([k, r]) => `${k}: ${r.message}`).join('; '), logTail: failed[0][1].logTail };
  rec.status = 'built';
  rec.plainReproducible = differingDebs(plain.A, plain.B).length === 0;
  rec.engineReproducible = differingDebs(engine.A, engine.B).length === 0;
  rec.engineAllArtifacts = sameArtifacts(engine.A, engine.B);
  rec.plainCause = await explain(plain.A, plain.B, base, 'plain');
  rec.engineCause = await explain(engine.A, engine.B, base, 'engine');
  if (rec.engineReproducible && !rec.engineAllArtifacts) rec.engineOthersDiff = await othersDiff(engine.A, engine.B);
  rec.debs = Object.keys(engine.A.debs);
  rec.ratio = plain.A.ms ? engine.A.ms / plain.A.ms : null;
  rec.plainVariations = variationsOf(rec.plainCause);
  rec.engineVariations = variationsOf(rec.engineCause);
  rec.load = { plainA: plain.A.loadAvg ?? null, engineA: engine.A.loadAvg ?? null };
  rec.otherBusy = { plainA: plain.A.otherBusy ?? null, engineA: engine.A.otherBusy ?? null };
  rec.engineCommit = engine.A.engineCommit ?? null;
  return rec;
}

/**
 * What differs between two runs' .buildinfo files (the .changes then differ by their
 * checksums): the lines only one has, e.g. an Installed-Build-Depends entry when a
 * package was installed on the machine between A and B.
 */
async function othersDiff(a, b) {
  const out = [];
  for (const name of Object.keys(a.others).filter((n) => n.endsWith('.buildinfo'))) {
    if (a.others[name] === b.others[name]) continue;
    const la = (await fs.readFile(path.join(a.outDir, 'artifacts', name), 'utf8')).split('\n');
    const lb = (await fs.readFile(path.join(b.outDir, 'artifacts', name), 'utf8')).split('\n');
    const sa = new Set(la);
    const sb = new Set(lb);
    const onlyA = la.filter((l) => !sb.has(l)).map((l) => `-${l.trim()}`);
    const onlyB = lb.filter((l) => !sa.has(l)).map((l) => `+${l.trim()}`);
    out.push(`${name}: ${[...onlyA, ...onlyB].slice(0, 6).join(' ')}${onlyA.length + onlyB.length > 6 ? ` (+${onlyA.length + onlyB.length - 6} more)` : ''}`);
  }
  return out.join('; ') || null;
}

/** The variations named in diffoscope summaries ("name: [build path, user] …; …"). */
function variationsOf(summary) {
  const found = [];
  for (const m of String(summary ?? '').matchAll(/(?:^|; )\[([^\]]+)\]/g)) for (const c of m[1].split(', ')) if (!found.includes(c)) found.push(c);
  return found;
}

const yesNo = (v) => (v === true ? 'yes' : v === false ? '**no**' : '–');
const secs = (ms) => (typeof ms === 'number' ? `${(ms / 1000).toFixed(0)} s` : '–');
const cell = (s) => (s ? String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ') : '');

export function renderCorpus(data) {
  const built = data.results.filter((r) => r.status === 'built');
  const unrepro = built.filter((r) => !r.plainReproducible);
  const fixed = unrepro.filter((r) => r.engineReproducible);
  const byCause = new Map();
  // the variations diffoscope's lines name, else the cause the corpus list gives (read off the report by hand)
  const causesOf = (r) => {
    const v = variationsOf(r.plainCause);
    return v.length ? v : r.expectedCause ? [r.expectedCause.split(':')[0]] : ['not recognised'];
  };
  for (const r of unrepro) for (const c of causesOf(r)) byCause.set(c, (byCause.get(c) ?? 0) + 1);
  const lines = [
    '## Corpus: real source packages built under the variations reprotest makes (`npm run corpus`)',
    '',
    `Run ${data.date} on ${data.machine}; engine ${data.engineVersion}. Each package is built four times: plainly (\`dpkg-source -x\` and \`dpkg-buildpackage -us -uc -b\` on the host, as a rebuilder runs them) under conditions A and B, and with \`detbuild deb\` under the same A and B. B starts ${GAP_MS / 1000} s after A ended. A and B differ in everything reprotest 0.7.23 varies, done for real (bench/lib/corpus-conditions.mjs):`,
    '',
    '| variation | A | B | how |',
    '|---|---|---|---|',
    ...VARIATIONS.map((v) => `| ${v.name} | ${cell(v.A)} | ${cell(v.B)} | ${cell(v.how)} |`),
    '',
    'Reproducible = the same `.deb` files; under the engine the `.buildinfo` and `.changes` are compared too (column "all artifacts"). "Variation" is read off diffoscope\'s changed lines (the strings B\'s conditions put there: its directory, user, host name, 2.6 kernel, et_EE, GMT-14, a 2028 date, …); the summary after it is diffoscope\'s first differing members.',
    (() => {
      const timed = data.results.filter((r) => r.times?.plainA && r.times?.engineA);
      const quiet = timed.filter(isQuiet);
      return `Times are of run A (CPU 0 only, no busy loop), one build at a time; the engine/plain ratio is measured pair by pair. The "other CPU" column is how busy the machine's other CPU was during each run A (plain / engine; the runner's own node process included): ${quiet.length} of ${timed.length} timed rows ran with it under ${QUIET_SHARE * 100}% in both runs ("quiet"); rows without that figure were timed before it was recorded, while other sessions' builds shared this ${data.machine.split(',')[0]} machine, and show the 1-minute load average at their start instead ("load"). Packages whose plain build took under 20 s are marked and not used for conclusions about overhead.`;
    })(),
    (() => {
      const timed = data.results.filter((r) => r.times?.plainA && r.times?.engineA && isQuiet(r) && r.times.plainA >= 20000);
      const faster = timed.filter((r) => r.times.engineA < r.times.plainA).length;
      const ratios = timed.map((r) => r.times.engineA / r.times.plainA).sort((a, b) => a - b);
      const median = ratios.length ? ratios[Math.floor((ratios.length - 1) / 2)] : null;
      return `Quiet rows of 20 s or more: ${timed.length}; engine/plain from ${ratios.length ? `${ratios[0].toFixed(2)}x to ${ratios[ratios.length - 1].toFixed(2)}x, median ${median.toFixed(2)}x` : '–'}; in ${faster} of them the engine's run A took less time than the plain one. Both do the same dpkg-buildpackage steps and test suites on one CPU; under the engine a test suite's sleeps and timeouts end in logical time and cost nothing${faster ? ', which is what makes those rows faster' : ''}, while every process start costs the engine's stops (bench/README.md, findings of 2026-12-08). The engine's overhead per kind of build is measured by \`npm run bench\`.`;
    })(),
    (() => {
      const byCommit = new Map();
      for (const r of data.results.filter((x) => x.status === 'built')) {
        const k = r.engineCommit ?? 'not recorded (before 2026-12-08)';
        byCommit.set(k, [...(byCommit.get(k) ?? []), r.package]);
      }
      return `The engine runs were made with these commits of the engine (a row's two engine runs with the same one): ${[...byCommit.entries()].map(([c, ps]) => `${c}: ${ps.join(', ')}`).join('; ')}.`;
    })(),
    (() => {
      const partial = data.results.filter((r) => r.status === 'built' && r.engineReproducible && !r.engineAllArtifacts).map((r) => r.package);
      return `Under the engine the \`.buildinfo\` and \`.changes\` are compared too; they can differ while the .debs do not (dpkg-deb clamps file times to SOURCE_DATE_EPOCH) when dpkg-genbuildinfo's Build-Date, the logical clock at the end of the build, is not the same, i.e. when the runs read the clock a different number of times. In this run: ${partial.length ? partial.join(', ') : 'none'}. Such leaks found on the way, each fixed in the engine: ocaml-re, hello, jq and gawk (timed waits that ended at a moment that depended on load, waits.c; answers that depend on scheduling, settled at a quiescent moment, settle.c: OUnit's runner polls its two workers' pipes), wget (configure's gnulib getcwd checks nest directories until the file system refuses: 1,367 levels on ext4, 440 on disorderfs, each a stamped change; the engine now refuses paths longer than 3,072 characters on every file system, fsdepth.c).`;
    })(),
    '',
    `**Not reproducible plainly under A/B: ${unrepro.length} of ${built.length} built packages; reproducible under the engine: ${fixed.length} of ${unrepro.length}.** Plain differences by variation (a package may count under several): ${[...byCause.entries()].sort((x, y) => y[1] - x[1]).map(([c, n]) => `${c} ${n}`).join(', ') || '–'}.`,
    ...(() => {
      const unmeasured = loadCorpus().packages.filter((e) => !data.results.some((r) => r.package === e.package)).map((e) => e.package);
      return unmeasured.length ? ['', `In the list but not measured in this run: ${unmeasured.join(', ')}.`] : [];
    })(),
    '',
    '| package | version | role | plain reproducible | engine reproducible | all artifacts (engine) | variation behind the plain difference | diffoscope (plain) | plain time | engine time | ratio | other CPU (plain / engine) | still different under the engine |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of data.results) {
    if (r.status !== 'built' && r.status !== 'plain-only') continue;
    const short = typeof r.times?.plainA === 'number' && r.times.plainA < 20000;
    const ratio = r.ratio ? `${r.ratio.toFixed(2)}x${short ? ' (<20 s: not used)' : ''}` : '–';
    const pct = (v) => (typeof v === 'number' ? `${Math.round(v * 100)}%` : '–');
    const load = r.otherBusy && (r.otherBusy.plainA !== null || r.otherBusy.engineA !== null)
      ? `${pct(r.otherBusy.plainA)} / ${pct(r.otherBusy.engineA)}${isQuiet(r) ? ' (quiet)' : ''}`
      : r.load ? `load ${r.load.plainA?.toFixed(1) ?? '–'} / ${r.load.engineA?.toFixed(1) ?? '–'}` : '–';
    const marked = variationsOf(r.plainCause);
    const why = r.plainReproducible ? '' : [marked.length ? `diffoscope's lines name: ${marked.join(', ')}` : null, r.expectedCause].filter(Boolean).join('; ');
    lines.push(
      `| ${r.package} | ${r.version} | ${r.role} | ${yesNo(r.plainReproducible)} | ${yesNo(r.engineReproducible)} | ${yesNo(r.engineAllArtifacts)} | ${cell(why)} | ${cell(String(r.plainCause ?? '').replace(/(^|; )\[[^\]]+\] /g, '$1'))} | ${secs(r.times?.plainA)} | ${secs(r.times?.engineA)} | ${ratio} | ${load} | ${cell([r.engineCause, r.engineOthersDiff ? `.debs identical; ${r.engineOthersDiff}` : null, r.engineNote].filter(Boolean).join(' — '))} |`,
    );
  }
  const other = data.results.filter((r) => r.status !== 'built' && r.status !== 'plain-only');
  if (other.length) {
    lines.push('', 'Not built in this run:', '');
    for (const r of other) lines.push(`- ${r.package}${r.version ? ` ${r.version}` : ''}: ${r.status} — ${cell(String(r.message ?? '').replace(/\(log: [^)]*\)/g, '').slice(0, 300))}${r.notes ? ` (${cell(r.notes)})` : ''}`);
  }
  return lines.join('\n');
}

async function writeResultsMd(data) {
  const file = path.join(benchDir, 'RESULTS.md');
  let text = existsSync(file) ? await fs.readFile(file, 'utf8') : '';
  const block = `<!-- corpus:start -->\n${renderCorpus(data)}\n<!-- corpus:end -->`;
  const re = /<!-- corpus:start -->[\s\S]*?<!-- corpus:end -->/;
  text = re.test(text) ? text.replace(re, block) : `${text.trimEnd()}\n\n${block}\n`;
  await fs.writeFile(file, text);
}

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0].replace(/^#!.*\n\/\*\*?/, '').replace(/^ \* ?/gm, ''));
    return 0;
  }
  if (args.includes('--render')) {
    await writeResultsMd(JSON.parse(await fs.readFile(resultsFile, 'utf8')));
    log('re-rendered bench/RESULTS.md');
    return 0;
  }
  const fresh = args.includes('--fresh');
  plainOnly = args.includes('--plain-only');
  const onlyIdx = args.indexOf('--only');
  const only = onlyIdx >= 0 ? new Set((args[onlyIdx + 1] ?? '').split(',').filter(Boolean)) : null;
  if (!existsSync(path.join(repoDir, 'dist', 'cli', 'main.js'))) throw new Error('run `npm run build` first');
  const unavailable = conditionsUnavailable();
  if (unavailable) throw new Error(unavailable);
  const corpus = loadCorpus();
  // results measured under the earlier conditions (--plain in the sandbox) are not comparable: start afresh
  const readResults = async () => {
    const d = existsSync(resultsFile) ? JSON.parse(await fs.readFile(resultsFile, 'utf8')) : null;
    return d && d.conditions === CONDITIONS_ID ? d : { results: [] };
  };
  const previous = await readResults();
  const byName = new Map(previous.results.map((r) => [r.package, r]));
  const { ENGINE_VERSION } = await import(path.join(repoDir, 'dist', 'engine', 'version.js'));
  const rpmOnly = args.includes('--rpm-only');
  for (const entry of rpmOnly ? [] : corpus.packages) {
    if (only && !only.has(entry.package)) continue;
    log(`${entry.package} (${entry.role})`);
    let rec;
    try {
      rec = await one(entry, fresh);
    } catch (err) {
      rec = { package: entry.package, role: entry.role, status: 'error', message: err instanceof Error ? err.message : String(err) };
    }
    if (entry.engineNote) rec.engineNote = entry.engineNote;
    // other runner processes (--only) may have written meanwhile: merge with the file's latest
    if (existsSync(resultsFile)) {
      for (const r of (await readResults()).results) if (r.package !== entry.package) byName.set(r.package, r);
    }
    byName.set(entry.package, rec);
    log(`${entry.package}: ${rec.status}${rec.status === 'built' ? ` plain ${rec.plainReproducible ? 'reproducible' : 'DIFFERS'}, engine ${rec.engineReproducible ? 'reproducible' : 'DIFFERS'}` : ` (${rec.message})`}`);
    // write after each package: a long run that is stopped keeps what it measured
    const data = {
      date: new Date().toISOString().slice(0, 10),
      machine: `${(await import('node:os')).cpus().length} CPUs, kernel ${(await import('node:os')).release()}`,
      engineVersion: ENGINE_VERSION,
      conditions: CONDITIONS_ID,
      // role, expected cause and notes as the corpus list says now (measurements stay as measured)
      results: corpus.packages
        .map((e) => {
          const r = byName.get(e.package);
          return r && { ...r, role: e.role, expectedCause: e.expectedCause ?? null, notes: e.notes ?? null, engineNote: e.engineNote ?? null };
        })
        .filter(Boolean),
    };
    await fs.writeFile(resultsFile, `${JSON.stringify(data, null, 2)}\n`);
    await writeResultsMd(data);
  }
  if (!plainOnly) {
    await runRpmCorpus({ only, log, resultsFile: path.join(benchDir, 'results', 'corpus-rpm.json'), resultsMd: path.join(benchDir, 'RESULTS.md') });
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`corpus: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
