/**
 * RPM builds for the corpus (`npm run corpus`, block `corpus-rpm` of
 * bench/RESULTS.md) and the rpm recipe's tests: one `detbuild rpm` run under
 * the caller's conditions of bench/lib/corpus.mjs (CONDITIONS A and B), a
 * plain `rpmbuild --rebuild` on the host (the control without detbuild, with
 * or without SOURCE_DATE_EPOCH exported), and what differs between two RPMs
 * (the header tags rpm lists in `rpm -qp --xml`, and `rpm -qp --dump` lines).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONDITIONS, cacheRoot, conditionSummary, repoDir, run, sleep, startLoad } from './corpus.mjs';

async function sha256(file) {
  const h = createHash('sha256');
  h.update(await fs.readFile(file));
  return h.digest('hex');
}

async function envFor(cond) {
  const env = { ...process.env, ...cond.env };
  for (const k of cond.unset ?? []) delete env[k];
  if (cond.tmpdir) {
    await fs.mkdir(cond.tmpdir, { recursive: true });
    env.TMPDIR = cond.tmpdir;
  }
  return env;
}

/** Files of a directory by kind: { rpms: {name: sha256}, others: {name: sha256} }. */
async function hashes(dir) {
  const res = { rpms: {}, others: {} };
  for (const name of (await fs.readdir(dir)).sort()) {
    const h = await sha256(path.join(dir, name));
    if (name.endsWith('.rpm')) res.rpms[name] = h;
    else res.others[name] = h;
  }
  return res;
}

/**
 * One `detbuild rpm` run. target: { srpm } or { spec, dir }. Returns
 * { ok, ms, exit, rpms, others, outDir, artifacts, message, logTail, stderr }.
 */
export async function rpmBuildOnce(target, mode, cond, outDir, { depMap = null, timeoutS = 1800, nocheck = false, extraArgs = [] } = {}) {
  await fs.rm(outDir, { recursive: true, force: true });
  await fs.rm(`${outDir}.failed.log`, { force: true });
  await fs.mkdir(path.dirname(outDir), { recursive: true });
  const env = await envFor(cond);
  const cli = process.env.DETBUILD_CLI || path.join(repoDir, 'dist', 'cli', 'main.js');
  const what = target.spec ? ['--spec', target.spec, target.dir] : [target.srpm];
  const args = ['rpm', ...what, '--out', outDir, '--quiet', '--timeout', String(timeoutS), ...(mode === 'plain' ? ['--plain'] : []), ...(nocheck ? ['--nocheck'] : []), ...(depMap ? ['--dep-map', depMap] : []), ...extraArgs];
  const stop = startLoad(cond.load ?? 0);
  let r;
  try {
    r = await run('sh', ['-c', `umask ${cond.umask} && exec taskset -c ${cond.cpu} "$@"`, 'sh', process.execPath, cli, ...args], { env });
  } finally {
    stop();
  }
  const res = { ok: r.code === 0, ms: Math.round(r.ms), exit: r.code, rpms: {}, others: {}, outDir, artifacts: path.join(outDir, 'artifacts'), stderr: r.stderr, message: r.stderr.trim().split('\n').slice(-1)[0] ?? '' };
  if (!res.ok) {
    try {
      res.logTail = (await fs.readFile(`${outDir}.failed.log`, 'utf8')).trim().split('\n').slice(-15).join('\n');
    } catch {
      res.logTail = r.stderr.trim().split('\n').slice(-15).join('\n');
    }
    return res;
  }
  return { ...res, ...(await hashes(res.artifacts)) };
}

/**
 * The control without detbuild: `rpmbuild -ra --nodeps` of SRPM on the host, under
 * the caller's conditions, its %{_topdir} in OUT_DIR/top (a path of its own), with
 * SOURCE_DATE_EPOCH exported when `sde` is given; run B of a pair also gets
 * another host name (a UTS namespace through bwrap). Packages end up in OUT_DIR/artifacts.
 */
export async function rawRpmbuildOnce(srpm, cond, outDir, { sde = null, hostname = null } = {}) {
  await fs.rm(outDir, { recursive: true, force: true });
  const top = path.join(outDir, 'top');
  const art = path.join(outDir, 'artifacts');
  await fs.mkdir(art, { recursive: true });
  const env = await envFor(cond);
  if (sde !== null) env.SOURCE_DATE_EPOCH = String(sde);
  else delete env.SOURCE_DATE_EPOCH;
  const cmd = ['rpmbuild', '-ra', '--nodeps', '--define', `_topdir ${top}`, srpm];
  const wrapped = hostname ? ['bwrap', '--unshare-user', '--unshare-uts', '--hostname', hostname, '--dev-bind', '/', '/', '--', ...cmd] : cmd;
  const stop = startLoad(cond.load ?? 0);
  let r;
  try {
    r = await run('sh', ['-c', `umask ${cond.umask} && exec taskset -c ${cond.cpu} "$@"`, 'sh', ...wrapped], { env });
  } finally {
    stop();
  }
  const res = { ok: r.code === 0, ms: Math.round(r.ms), exit: r.code, rpms: {}, others: {}, outDir, artifacts: art, message: (r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? '' };
  if (!res.ok) return { ...res, logTail: `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-15).join('\n') };
  for (const sub of ['RPMS', 'SRPMS']) {
    const d = path.join(top, sub);
    if (!existsSync(d)) continue;
    for (const entry of await fs.readdir(d, { withFileTypes: true, recursive: true })) {
      if (entry.isFile() && entry.name.endsWith('.rpm')) await fs.copyFile(path.join(entry.parentPath ?? entry.path, entry.name), path.join(art, entry.name));
    }
  }
  return { ...res, ...(await hashes(art)) };
}

/** Names of the .rpms that differ (or exist in one run only). */
export function differingRpms(a, b) {
  const names = [...new Set([...Object.keys(a.rpms), ...Object.keys(b.rpms)])].sort();
  return names.filter((n) => a.rpms[n] !== b.rpms[n]);
}

/** `rpm -qp --dump` of a package. */
export async function rpmDump(file) {
  const r = await run('rpm', ['-qp', '--dump', file], { env: { ...process.env, LC_ALL: 'C' } });
  return r.stdout;
}

/** Header tag -> its values, from `rpm -qp --xml`. */
async function headerTags(file) {
  const r = await run('rpm', ['-qp', '--xml', file], { env: { ...process.env, LC_ALL: 'C' } });
  const tags = new Map();
  for (const m of r.stdout.matchAll(/<rpmTag name="([^"]+)">([\s\S]*?)<\/rpmTag>/g)) tags.set(m[1], m[2]);
  return tags;
}

/**
 * What differs between two builds of one package: the header tags whose values
 * differ (rpm's names, e.g. Buildtime, Buildhost, Filemtimes, Filedigests) and
 * the number of `--dump` lines that differ. null when the files are identical.
 */
export async function rpmDifferences(fileA, fileB) {
  if ((await sha256(fileA)) === (await sha256(fileB))) return null;
  const [ta, tb] = await Promise.all([headerTags(fileA), headerTags(fileB)]);
  const tags = [...new Set([...ta.keys(), ...tb.keys()])].filter((k) => ta.get(k) !== tb.get(k)).sort();
  const [da, db] = await Promise.all([rpmDump(fileA), rpmDump(fileB)]);
  const la = da.split('\n');
  const lb = new Set(db.split('\n'));
  const dumpLines = la.filter((l) => !lb.has(l)).length;
  return { tags, dumpLines };
}

/** Tags that change whenever anything else does (digests and signature sizes): left out of explanations. */
export const DIGEST_TAGS = new Set(['Sha1header', 'Sha256header', 'Sigmd5', 'Sigsize', 'Payloaddigest', 'Payloaddigestalt', 'Longsigsize']);

/** One line: `NAME: Buildtime, Filemtimes; 3 --dump lines` for the first differing packages (digest tags left out). */
export async function explainRpms(a, b, max = 2) {
  const diff = differingRpms(a, b);
  if (diff.length === 0) return null;
  const parts = [];
  for (const name of diff.slice(0, max)) {
    const fa = path.join(a.artifacts, name);
    const fb = path.join(b.artifacts, name);
    if (!existsSync(fa) || !existsSync(fb)) {
      parts.push(`${name}: only in one build`);
      continue;
    }
    const d = await rpmDifferences(fa, fb);
    const tags = d.tags.filter((t) => !DIGEST_TAGS.has(t));
    parts.push(`${name}: ${tags.length ? tags.join(', ') : 'digests only'}; ${d.dumpLines} --dump line${d.dumpLines === 1 ? '' : 's'}`);
  }
  if (diff.length > max) parts.push(`(+${diff.length - max} more)`);
  return parts.join('; ');
}

/* ---------------------------------------------------------------------------
 * `npm run corpus`, RPM rows (test/corpus/rpm.json): results in
 * bench/results/corpus-rpm.json and the block corpus-rpm of bench/RESULTS.md.
 */

export const rpmCorpusFile = path.join(repoDir, 'test', 'corpus', 'rpm.json');
const upstreamDir = path.resolve(repoDir, '..', 'shared', 'upstream');

/** The unpacked snapshot of REPO (once, under the cache), or null with the reason. */
function upstreamTree(repo) {
  if (!existsSync(upstreamDir)) return { tree: null, reason: `no ${upstreamDir}` };
  const name = spawnSync('sh', ['-c', `ls "$1" | grep -E "^$2-[0-9a-f]+\\.tar\\.gz$" | head -n 1`, 'sh', upstreamDir, repo], { encoding: 'utf8' }).stdout.trim();
  if (!name) return { tree: null, reason: `no ${repo} snapshot in ${upstreamDir}` };
  const dest = path.join(cacheRoot(), 'rpm-upstream', name.replace(/\.tar\.gz$/, ''));
  if (!existsSync(path.join(dest, repo))) {
    spawnSync('mkdir', ['-p', dest]);
    const r = spawnSync('tar', ['-xzf', path.join(upstreamDir, name), '-C', dest], { encoding: 'utf8' });
    if (r.status !== 0) return { tree: null, reason: `cannot unpack ${name}: ${r.stderr.trim()}` };
  }
  return { tree: path.join(dest, repo), reason: null, snapshot: name };
}

const GAP_MS = 3000;

async function pairOf(label, fn) {
  const a = await fn('A');
  if (!a.ok) return { A: a, B: null };
  await sleep(GAP_MS);
  return { A: a, B: await fn('B') };
}

/** One RPM corpus row: four pairs, and what differs in each. */
export async function rpmCorpusRow(entry, log = () => {}) {
  const rec = { name: entry.name, role: entry.role, spec: entry.spec, source: entry.tree ?? entry.repo, notes: entry.notes ?? null, depMap: entry.depMap ?? null };
  let tree;
  if (entry.tree) tree = path.join(repoDir, entry.tree);
  else {
    const u = upstreamTree(entry.repo);
    if (!u.tree) return { ...rec, status: 'skipped', message: u.reason };
    tree = u.tree;
    rec.snapshot = u.snapshot;
  }
  const base = path.join(cacheRoot(), 'corpus-rpm', entry.name);
  await fs.rm(base, { recursive: true, force: true });
  await fs.mkdir(base, { recursive: true });
  let depMap = null;
  if (entry.depMap) {
    depMap = path.join(base, 'deps.map');
    await fs.writeFile(depMap, Object.entries(entry.depMap).map(([k, v]) => `${k} ${v}\n`).join(''));
  }
  const target = { spec: entry.spec, dir: tree };
  const engine = await pairOf('engine', (w) => {
    log(`  ${entry.name}: engine run ${w}`);
    return rpmBuildOnce(target, 'deterministic', CONDITIONS[w], path.join(base, `engine-${w}`), { depMap });
  });
  if (!engine.A.ok) return { ...rec, status: engine.A.exit === 7 || engine.A.exit === 3 ? 'refused' : 'build-failed', exit: engine.A.exit, message: engine.A.message.replace(/^detbuild: /, ''), logTail: engine.A.logTail };
  const plain = await pairOf('plain', (w) => {
    log(`  ${entry.name}: --plain run ${w}`);
    return rpmBuildOnce(target, 'plain', CONDITIONS[w], path.join(base, `plain-${w}`), { depMap });
  });
  const srpm = path.join(engine.A.artifacts, Object.keys(engine.A.rpms).find((n) => n.endsWith('.src.rpm')));
  const sde = Number(/SOURCE_DATE_EPOCH="(\d+)"/.exec(await fs.readFile(path.join(engine.A.artifacts, Object.keys(engine.A.others)[0]), 'utf8'))[1]);
  const raw = await pairOf('raw', (w) => {
    log(`  ${entry.name}: plain rpmbuild run ${w}`);
    return rawRpmbuildOnce(srpm, CONDITIONS[w], path.join(base, `raw-${w}`), { hostname: w === 'B' ? 'detbuild-control-b' : null });
  });
  const withSde = await pairOf('sde', (w) => {
    log(`  ${entry.name}: plain rpmbuild with SOURCE_DATE_EPOCH run ${w}`);
    return rawRpmbuildOnce(srpm, CONDITIONS[w], path.join(base, `sde-${w}`), { sde, hostname: w === 'B' ? 'detbuild-control-b' : null });
  });
  const pairs = { engine, plain, raw, sde: withSde };
  const failed = Object.entries(pairs).filter(([, p]) => !p.A.ok || !p.B?.ok);
  rec.times = { engineA: engine.A.ms, plainA: plain.A.ms, rawA: raw.A.ms };
  rec.rpms = Object.keys(engine.A.rpms);
  if (failed.length) return { ...rec, status: 'build-failed', message: failed.map(([k, p]) => `${k}: ${(p.B && !p.B.ok ? p.B : p.A).message}`).join('; ') };
  rec.status = 'built';
  for (const [k, p] of Object.entries(pairs)) {
    rec[`${k}Reproducible`] = differingRpms(p.A, p.B).length === 0 && (k !== 'engine' || JSON.stringify(p.A.others) === JSON.stringify(p.B.others));
    rec[`${k}Cause`] = await explainRpms(p.A, p.B, 3);
  }
  return rec;
}

const yesNo = (v) => (v === true ? 'yes' : v === false ? '**no**' : '–');
const cell = (s) => (s ? String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ') : '');
const secs = (ms) => (typeof ms === 'number' ? `${(ms / 1000).toFixed(1)} s` : '–');

export function renderRpmCorpus(data) {
  const lines = [
    '## Corpus: RPM specs (`npm run corpus`, RPM rows)',
    '',
    `Run ${data.date} on ${data.machine} with Debian's rpm ${data.rpmVersion}; engine ${data.engineVersion}. Each spec (test/corpus/rpm.json) built with \`detbuild rpm --spec\` twice under the engine and twice with \`--plain\` (the recipe's macros and SOURCE_DATE_EPOCH, no engine); its .src.rpm (the engine's) rebuilt with plain \`rpmbuild -ra --nodeps\` on the host twice, and twice with only \`SOURCE_DATE_EPOCH\` exported. Run B of each pair starts ${GAP_MS / 1000} s after A ended.`,
    `A: ${conditionSummary(CONDITIONS.A)}. B: ${conditionSummary(CONDITIONS.B)}; the plain rpmbuild runs B also under another host name, and every plain rpmbuild run has its own %{_topdir}.`,
    'Reproducible = the same .rpm files (binary and rebuilt source package); for the engine the .buildinfo too. "What differs" lists the header tags whose values differ (`rpm -qp --xml`; the digest and signature-size tags, which differ whenever anything does, left out) and the number of differing `rpm -qp --dump` lines.',
    '',
    '| package | source | engine | --plain (macros only) | plain rpmbuild | + SOURCE_DATE_EPOCH | engine time | --plain time | what differs with --plain | plain rpmbuild | + SOURCE_DATE_EPOCH |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of data.results.filter((x) => x.status === 'built')) {
    lines.push(`| ${r.name} | ${cell(r.source)} ${r.spec} | ${yesNo(r.engineReproducible)} | ${yesNo(r.plainReproducible)} | ${yesNo(r.rawReproducible)} | ${yesNo(r.sdeReproducible)} | ${secs(r.times.engineA)} | ${secs(r.times.plainA)} | ${cell(r.plainCause)} | ${cell(r.rawCause)} | ${cell(r.sdeCause)} |`);
  }
  const other = data.results.filter((x) => x.status !== 'built');
  if (other.length) {
    lines.push('', 'Not built:', '');
    for (const r of other) lines.push(`- ${r.name} (${r.source} ${r.spec ?? ''}): ${r.status}${r.exit ? ` (exit ${r.exit})` : ''} — ${cell(String(r.message ?? '').replace(/\(log: [^)]*\)/g, '').slice(0, 400))}${r.notes ? ` (${cell(r.notes)})` : ''}`);
  }
  return lines.join('\n');
}

/** Runs the RPM rows (all, or those named in `only`) and writes their results. */
export async function runRpmCorpus({ only = null, log = () => {}, resultsFile, resultsMd }) {
  const corpus = JSON.parse(await fs.readFile(rpmCorpusFile, 'utf8'));
  const previous = existsSync(resultsFile) ? JSON.parse(await fs.readFile(resultsFile, 'utf8')) : { results: [] };
  const byName = new Map(previous.results.map((r) => [r.name, r]));
  let ran = 0;
  for (const entry of corpus.packages) {
    if (only && !only.has(entry.name)) continue;
    ran++;
    log(`${entry.name} (rpm, ${entry.role})`);
    let rec;
    try {
      rec = await rpmCorpusRow(entry, log);
    } catch (err) {
      rec = { name: entry.name, role: entry.role, source: entry.tree ?? entry.repo, spec: entry.spec, status: 'error', message: err instanceof Error ? err.message : String(err) };
    }
    log(`${entry.name}: ${rec.status}${rec.status === 'built' ? ` engine ${rec.engineReproducible ? 'reproducible' : 'DIFFERS'}, --plain ${rec.plainReproducible ? 'reproducible' : 'differs'}, plain rpmbuild ${rec.rawReproducible ? 'reproducible' : 'differs'}` : ` (${rec.message})`}`);
    byName.set(entry.name, rec);
  }
  if (ran === 0) return; // --only named no RPM row: the record stays as it was measured
  const { ENGINE_VERSION } = await import(path.join(repoDir, 'dist', 'engine', 'version.js'));
  const data = {
    date: new Date().toISOString().slice(0, 10),
    machine: `${os.cpus().length} CPUs, kernel ${os.release()}`,
    rpmVersion: spawnSync('rpm', ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^RPM version /, ''),
    engineVersion: ENGINE_VERSION,
    results: corpus.packages.map((e) => byName.get(e.name)).filter(Boolean),
  };
  await fs.writeFile(resultsFile, `${JSON.stringify(data, null, 2)}\n`);
  let text = existsSync(resultsMd) ? await fs.readFile(resultsMd, 'utf8') : '';
  const block = `<!-- corpus-rpm:start -->\n${renderRpmCorpus(data)}\n<!-- corpus-rpm:end -->`;
  const re = /<!-- corpus-rpm:start -->[\s\S]*?<!-- corpus-rpm:end -->/;
  text = re.test(text) ? text.replace(re, block) : `${text.trimEnd()}\n\n${block}\n`;
  await fs.writeFile(resultsMd, text);
  return data;
}
