/**
 * The reproducibility corpus (test/corpus/corpus.json): Debian source
 * packages, each built twice plainly and twice under the engine through
 * `detbuild deb`, the two runs of each pair under deliberately different real
 * conditions.  Shared by `npm run corpus` (bench/corpus.mjs) and the CI subset
 * (test/corpus/subset.test.ts).
 *
 * Sources: `apt-get source --download-only` into
 * ${DETBUILD_CACHE:-~/.cache/detbuild}/debsrc-dpkg/PKG (test/corpus/fetch.sh
 * does it as root, with the build dependencies); a Qubes component is made
 * into a source package at run time from its snapshot in ../shared/upstream (orig tarball;
 * never committed here).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { causesInReport, conditionsUnavailable, prepareBuildDir, wrapCommand } from './corpus-conditions.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoDir = path.resolve(here, '..', '..');
export const corpusFile = path.join(repoDir, 'test', 'corpus', 'corpus.json');

export function cacheRoot() {
  return process.env.DETBUILD_CACHE || path.join(process.env.HOME || '/root', '.cache', 'detbuild');
}

export function loadCorpus() {
  return JSON.parse(readFileSync(corpusFile, 'utf8'));
}

/** Runs a program; resolves { code, signal, stdout, stderr, ms } (never rejects on a non-zero exit). */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      if (stdout.length < 4e6) stdout += c;
    });
    child.stderr.on('data', (c) => {
      if (stderr.length < 4e6) stderr += c;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 }));
  });
}

async function findDsc(dir, pkg, version) {
  let names = [];
  try {
    names = await fs.readdir(dir);
  } catch {
    return null;
  }
  const noEpoch = version ? version.replace(/^\d+:/, '') : null;
  const dsc = names.filter((n) => n.endsWith('.dsc') && (noEpoch ? n === `${pkg}_${noEpoch}.dsc` : n.startsWith(`${pkg}_`))).sort();
  return dsc.length ? path.join(dir, dsc[dsc.length - 1]) : null;
}

/** The cached .dsc of a corpus entry, or null (fetch.sh downloads it). */
export async function cachedDsc(entry) {
  return findDsc(path.join(cacheRoot(), 'debsrc-dpkg', entry.package), entry.package, entry.version);
}

/** Downloads the source package (no root needed: apt-get source --download-only); returns the .dsc or throws. */
export async function fetchDsc(entry) {
  const have = await cachedDsc(entry);
  if (have) return have;
  const dir = path.join(cacheRoot(), 'debsrc-dpkg', entry.package);
  await fs.mkdir(dir, { recursive: true });
  const spec = entry.version ? `${entry.package}=${entry.version}` : entry.package;
  const r = await run('apt-get', ['source', '--download-only', '-qq', spec], { cwd: dir });
  const dsc = await cachedDsc(entry);
  if (!dsc) throw new Error(`apt-get source ${spec} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`);
  return dsc;
}

/** ../shared/upstream/ of this checkout (Qubes snapshots; absent in a clone elsewhere). */
export const upstreamDir = path.resolve(repoDir, '..', 'shared', 'upstream');

/** The snapshot archive REPO-<commit>.tar.gz in ../shared/upstream, or null. */
function upstreamArchive(repo) {
  if (!existsSync(upstreamDir)) return null;
  const name = readdirSync(upstreamDir).find((f) => f.startsWith(`${repo}-`) && /^[0-9a-f]+\.tar\.gz$/.test(f.slice(repo.length + 1)));
  return name ? path.join(upstreamDir, name) : null;
}

/**
 * A Qubes component as a source package, made from its snapshot in
 * ../shared/upstream (entry.upstream: the repository's name): the tree
 * without debian/ becomes the orig tarball (sorted, owner 0, mtime 0, gzip
 * -n: the same bytes every time), then `dpkg-source -b`, as the Qubes builder
 * makes one from its checkout.  Returns { dsc, reason, commit } (dsc null,
 * with the reason, when the snapshot is absent, as in CI).
 */
export async function qubesDsc(entry) {
  const archive = upstreamArchive(entry.upstream);
  if (!archive) return { dsc: null, reason: `no ${entry.upstream} snapshot in ${upstreamDir}` };
  const commit = path.basename(archive, '.tar.gz').slice(entry.upstream.length + 1);
  const dir = path.join(cacheRoot(), 'qubes-src', `${entry.upstream}-${commit}`);
  const done = path.join(dir, 'dsc');
  if (existsSync(done)) return { dsc: (await fs.readFile(done, 'utf8')).trim(), reason: null, commit };
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  let r = await run('tar', ['-xzf', archive, '-C', dir]);
  if (r.code !== 0) throw new Error(`unpacking ${archive} failed: ${r.stderr}`);
  const top = path.join(dir, entry.upstream);
  const changelog = await fs.readFile(path.join(top, 'debian', 'changelog'), 'utf8').catch(() => '');
  const m = /^(\S+) \(([^)]+)\)/.exec(changelog);
  if (!m) return { dsc: null, reason: `no debian/changelog in ${archive}` };
  const [, source, version] = m;
  const native = /native/.test(await fs.readFile(path.join(top, 'debian', 'source', 'format'), 'utf8').catch(() => ''));
  const upstream = version.replace(/^\d+:/, '').replace(/-[^-]+$/, '');
  const tree = `${source}-${upstream}`;
  await fs.rename(top, path.join(dir, tree));
  if (!native) {
    r = await run('sh', ['-c', 'tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --exclude="$1/debian" -cf - "$1" | gzip -n9 > "$2"', 'sh', tree, `${source}_${upstream}.orig.tar.gz`], { cwd: dir });
    if (r.code !== 0) throw new Error(`making the orig tarball of ${source} failed: ${r.stderr}`);
  }
  r = await run('dpkg-source', ['-b', tree], { cwd: dir, env: { ...process.env, LC_ALL: 'C.UTF-8', SOURCE_DATE_EPOCH: '0' } });
  if (r.code !== 0) throw new Error(`dpkg-source -b for ${source} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`);
  await fs.rm(path.join(dir, tree), { recursive: true, force: true });
  const dsc = path.join(dir, `${source}_${version.replace(/^\d+:/, '')}.dsc`);
  await fs.writeFile(done, `${dsc}\n`);
  return { dsc, reason: null, commit };
}

/**
 * Light conditions for tests that run as any user (test/recipes: dpkg, rpm):
 * `detbuild deb` / `detbuild rpm` run as the caller, run B on another CPU,
 * with load, other TZ, locale, umask, HOME, USER and -j, its workspace on
 * tmpfs; the plain runs are `--plain` (the same sandbox layout).  The corpus
 * itself builds under REPROTEST_CONDITIONS (bench/lib/corpus-conditions.mjs):
 * what real rebuilders vary, which needs root.
 */
export const CONDITIONS = {
  A: { name: 'A', cpu: 0, umask: '022', load: 0, env: { TZ: 'Etc/GMT+12', LANG: 'C.UTF-8', LANGUAGE: 'en_US:en', HOME: '/nonexistent/first-build', USER: 'builder1' }, unset: ['LC_ALL', 'DEB_BUILD_OPTIONS', 'MAKEFLAGS'] },
  B: {
    name: 'B',
    cpu: Math.min(1, os.cpus().length - 1),
    umask: '002',
    load: 1,
    env: { TZ: 'Etc/GMT-14', LANG: 'et_EE.UTF-8', LC_ALL: 'et_EE.UTF-8', LANGUAGE: 'et_EE:et', HOME: '/nonexistent/second-build', USER: 'builder2', DEB_BUILD_OPTIONS: 'parallel=4', CAPTURE_ENVIRONMENT: 'I capture the environment' },
    unset: ['MAKEFLAGS'],
    // the workspace on tmpfs instead of the disk: directories list in another order (tmpfs: newest first)
    tmpdir: '/dev/shm/detbuild-corpus',
  },
};

export function conditionSummary(c) {
  return `cpu ${c.cpu}, umask ${c.umask}, load ${c.load}, TZ=${c.env.TZ}, LANG=${c.env.LANG}${c.env.DEB_BUILD_OPTIONS ? `, DEB_BUILD_OPTIONS=${c.env.DEB_BUILD_OPTIONS}` : ''}, workspace on ${c.tmpdir ? 'tmpfs' : 'the disk'}`;
}

export { REPROTEST_CONDITIONS, variedSummary, conditionsUnavailable, VARIATIONS } from './corpus-conditions.mjs';

export function startLoad(n) {
  const procs = [];
  for (let i = 0; i < n; i++) procs.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  return () => {
    for (const p of procs) p.kill('SIGKILL');
  };
}

async function sha256(file) {
  const h = createHash('sha256');
  h.update(await fs.readFile(file));
  return h.digest('hex');
}

/** The .dsc's own name and the files it lists (Files: section). */
async function dscFiles(dsc) {
  const text = await fs.readFile(dsc, 'utf8');
  const files = [];
  const m = /^Files:\n((?:[ \t].*\n?)*)/m.exec(text);
  for (const line of (m ? m[1] : '').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length === 3) files.push(f[2]);
  }
  return [path.basename(dsc), ...files];
}

/** The commit of the engine a run used (the last commit that changed src/; "+" when src/ differs from it). */
async function engineCommit() {
  const head = await run('git', ['-C', repoDir, 'log', '-1', '--format=%h', '--', 'src']);
  if (head.code !== 0) return null;
  const dirty = await run('git', ['-C', repoDir, 'status', '--porcelain', '--untracked-files=no', 'src']);
  return `${head.stdout.trim()}${dirty.stdout.trim() ? '+' : ''}`;
}

/** The CPUs of this machine outside a condition's taskset list ("0", "0,1"). */
function otherCpus(list) {
  const mine = new Set(String(list ?? '').split(',').filter(Boolean).map(Number));
  return os.cpus().map((_, i) => i).filter((i) => !mine.has(i));
}

/** Busy and total jiffies per CPU from /proc/stat. */
async function cpuTimes() {
  const out = new Map();
  for (const line of (await fs.readFile('/proc/stat', 'utf8')).split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out.set(Number(m[1]), { busy: total - v[3] - v[4], total });
  }
  return out;
}

/**
 * The share (0-1) of `cpus` that was busy between two cpuTimes(): for a run
 * pinned to CPU 0, how much else the machine ran beside it (the runner's own
 * node process included, a few percent at most).
 */
function busyShare(a, b, cpus) {
  let busy = 0;
  let total = 0;
  for (const c of cpus) {
    if (!a.has(c) || !b.has(c)) continue;
    busy += b.get(c).busy - a.get(c).busy;
    total += b.get(c).total - a.get(c).total;
  }
  return total > 0 ? Math.round((busy / total) * 1000) / 1000 : null;
}

/**
 * One run under conditions `cond` (bench/lib/corpus-conditions.mjs): the
 * source package is copied into run `cond`'s build directory and built there
 * as `cond`'s user; mode 'plain' runs dpkg-source -x and dpkg-buildpackage
 * -us -uc -b on the host (what a rebuilder runs), mode 'deterministic' runs
 * `detbuild deb` from that directory.  The .debs, .buildinfo and .changes
 * are copied to `outDir`/artifacts (removed first), the log to
 * `outDir`/build.log.  Needs root (conditionsUnavailable()).
 * Returns { ok, ms, exit, debs: {name: sha256}, others: {name: sha256}, outDir, logTail }.
 */
export async function buildVaried(dsc, mode, cond, outDir, { nocheck = false, timeoutS = 1800, timeStep = null } = {}) {
  const why = conditionsUnavailable();
  if (why) throw new Error(why);
  await fs.rm(outDir, { recursive: true, force: true });
  await fs.mkdir(path.join(outDir, 'artifacts'), { recursive: true });
  const pkg = path.basename(dsc).split('_')[0];
  const work = await prepareBuildDir(cond, pkg);
  try {
    for (const name of await dscFiles(dsc)) {
      await fs.copyFile(path.join(path.dirname(dsc), name), path.join(work.dir, name));
    }
    await run('chown', ['-R', `${cond.user}:${cond.user}`, work.dir]);
    const extraEnv = {};
    if (nocheck) extraEnv.DEB_BUILD_OPTIONS = `nocheck${cond.env.DEB_BUILD_OPTIONS ? ` ${cond.env.DEB_BUILD_OPTIONS}` : ''}`;
    let argv;
    let artifactsDir;
    if (mode === 'plain') {
      // unpacked at the real clock, as reprotest unpacks before its variations apply (libfaketime's
      // utimensat fails with EINVAL when dpkg-source stamps the applied patches)
      argv = ['sh', '-c', 'set -e; env -u LD_PRELOAD -u FAKETIME dpkg-source --no-check -x "$1" src; cd src; exec dpkg-buildpackage -us -uc -b', 'sh', path.basename(dsc)];
      artifactsDir = work.dir;
    } else {
      const cli = process.env.DETBUILD_CLI || path.join(repoDir, 'dist', 'cli', 'main.js');
      extraEnv.TMPDIR = path.join(work.dir, 'tmp');
      argv = ['sh', '-c', 'mkdir -p "$TMPDIR" && exec "$@"', 'sh', process.execPath, cli, 'deb', path.basename(dsc), '--out', 'out', '--quiet', '--timeout', String(timeoutS), ...(nocheck ? ['--nocheck'] : []), ...(timeStep !== null ? ['--time-step', String(timeStep)] : [])];
      artifactsDir = path.join(work.dir, 'out', 'artifacts');
    }
    const loadAvg = os.loadavg()[0];
    const others = otherCpus(cond.cpus);
    const before = await cpuTimes();
    const stop = startLoad(cond.load ?? 0);
    let r;
    try {
      const cmd = wrapCommand(cond, argv, { cwd: work.dir, extraEnv });
      r = await run('timeout', [String(timeoutS + 60), ...cmd]);
    } finally {
      stop();
    }
    const otherBusy = others.length ? busyShare(before, await cpuTimes(), others) : null;
    const log = mode === 'plain' ? `${r.stdout}\n${r.stderr}` : existsSync(path.join(work.dir, 'out', 'build.log')) ? await fs.readFile(path.join(work.dir, 'out', 'build.log'), 'utf8') : `${r.stdout}\n${r.stderr}`;
    await fs.writeFile(path.join(outDir, 'build.log'), log);
    const res = { ok: r.code === 0, ms: Math.round(r.ms), exit: r.code, debs: {}, others: {}, outDir, loadAvg, otherBusy, engineCommit: mode === 'plain' ? null : await engineCommit(), message: r.stderr.trim().split('\n').slice(-1)[0] ?? '' };
    if (!res.ok) {
      res.logTail = `${log}\n${r.stderr}`.trim().split('\n').slice(-15).join('\n');
      return res;
    }
    const art = path.join(outDir, 'artifacts');
    for (const name of (await fs.readdir(artifactsDir)).sort()) {
      if (!/\.(u?deb|ddeb|buildinfo|changes)$/.test(name)) continue;
      await fs.copyFile(path.join(artifactsDir, name), path.join(art, name));
      const h = await sha256(path.join(art, name));
      if (/\.u?deb$/.test(name)) res.debs[name] = h;
      else res.others[name] = h;
    }
    if (Object.keys(res.debs).length === 0) return { ...res, ok: false, message: 'the build made no .deb' };
    return res;
  } finally {
    if (!process.env.DETBUILD_CORPUS_KEEP) await work.cleanup();
  }
}

/**
 * One `detbuild deb` run under conditions `cond`, results in `outDir` (removed first).
 * Returns { ok, ms, exit, debs: {name: sha256}, others: {name: sha256}, outDir, logTail }.
 */
export async function buildOnce(dsc, mode, cond, outDir, { nocheck = false, timeoutS = 1800, timeStep = null } = {}) {
  await fs.rm(outDir, { recursive: true, force: true });
  await fs.rm(`${outDir}.failed.log`, { force: true });
  await fs.mkdir(path.dirname(outDir), { recursive: true });
  const env = { ...process.env, ...cond.env };
  for (const k of cond.unset ?? []) delete env[k];
  if (cond.tmpdir) {
    await fs.mkdir(cond.tmpdir, { recursive: true });
    env.TMPDIR = cond.tmpdir;
  }
  const cli = process.env.DETBUILD_CLI || path.join(repoDir, 'dist', 'cli', 'main.js');
  const args = ['deb', dsc, '--out', outDir, '--quiet', '--timeout', String(timeoutS), ...(mode === 'plain' ? ['--plain'] : []), ...(nocheck ? ['--nocheck'] : []), ...(timeStep !== null && mode !== 'plain' ? ['--time-step', String(timeStep)] : [])];
  const stop = startLoad(cond.load ?? 0);
  let r;
  try {
    r = await run('sh', ['-c', `umask ${cond.umask} && exec taskset -c ${cond.cpu} "$@"`, 'sh', process.execPath, cli, ...args], { env });
  } finally {
    stop();
  }
  const res = { ok: r.code === 0, ms: Math.round(r.ms), exit: r.code, debs: {}, others: {}, outDir, message: r.stderr.trim().split('\n').slice(-1)[0] ?? '' };
  if (!res.ok) {
    try {
      res.logTail = (await fs.readFile(`${outDir}.failed.log`, 'utf8')).trim().split('\n').slice(-15).join('\n');
    } catch {
      res.logTail = r.stderr.trim().split('\n').slice(-15).join('\n');
    }
    return res;
  }
  const art = path.join(outDir, 'artifacts');
  for (const name of (await fs.readdir(art)).sort()) {
    const h = await sha256(path.join(art, name));
    if (/\.u?deb$/.test(name)) res.debs[name] = h;
    else res.others[name] = h;
  }
  return res;
}

/** Names of the .debs that differ (or exist in one run only). */
export function differingDebs(a, b) {
  const names = [...new Set([...Object.keys(a.debs), ...Object.keys(b.debs)])].sort();
  return names.filter((n) => a.debs[n] !== b.debs[n]);
}

export function sameArtifacts(a, b) {
  return differingDebs(a, b).length === 0 && JSON.stringify(a.others) === JSON.stringify(b.others);
}

/**
 * diffoscope's explanation of the first differing .deb, in one line: the
 * members that differ and the first changed line of the first hunk.
 */
export async function diffoscopeSummary(a, b, name, reportFile) {
  const fa = path.join(a.outDir, 'artifacts', name);
  const fb = path.join(b.outDir, 'artifacts', name);
  if (!existsSync(fa) || !existsSync(fb)) return `${name}: only in one build`;
  const r = await run('timeout', ['600', 'diffoscope', '--no-progress', '--text', reportFile, '--max-text-report-size', '400000', fa, fb]);
  if (r.code === 0) return `${name}: diffoscope finds no difference`;
  let text = '';
  try {
    text = await fs.readFile(reportFile, 'utf8');
  } catch {
    return `${name}: diffoscope failed (${r.stderr.trim().split('\n').slice(-1)[0]})`;
  }
  const members = [];
  for (const line of text.split('\n')) {
    const m = /^[│ ]*[├└]── (\.\/\S+|[^\s]+\.(?:gz|xz|zst|tar))$/.exec(line);
    if (m && !/^(data|control)\.tar/.test(m[1]) && !members.includes(m[1])) members.push(m[1]);
  }
  // md5sums differs whenever a file does: name the files themselves
  const leaf = members.filter((m) => m !== './md5sums' && !members.some((o) => o !== m && o.startsWith(`${m}`) && o.length > m.length && o.includes('/')));
  let firstChange = '';
  for (const line of text.split('\n')) {
    const m = /^[│ ]*[-+](?![-+])\s?(.*)$/.exec(line);
    // skip file-list lines (ls -l style) and hexdump offsets: show the first changed content
    if (m && m[1].trim() && !/^@@/.test(m[1]) && !/^[-dlrwxst]{9,10}\s/.test(m[1].trim()) && !/^[0-9a-f]{8}: /.test(m[1].trim())) {
      firstChange = m[1].trim().slice(0, 100);
      break;
    }
  }
  const shown = (leaf.length ? leaf : members).slice(0, 3).join(', ');
  const causes = causesInReport(text);
  return `${causes.length ? `[${causes.join(', ')}] ` : ''}${name}: ${shown || 'differs'}${(leaf.length || members.length) > 3 ? ` (+${(leaf.length || members.length) - 3} more)` : ''}${firstChange ? ` — e.g. \`${firstChange.replace(/`/g, "'")}\`` : ''}`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** dpkg-checkbuilddeps on an unpacked copy: null when satisfied, else the message. */
export async function unmetBuildDeps(dsc) {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'corpus-bd-'));
  try {
    const r = await run('dpkg-source', ['--no-check', '-x', dsc, path.join(tmp, 'src')], { env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    if (r.code !== 0) return `dpkg-source -x failed: ${r.stderr.trim().split('\n').slice(-1)[0]}`;
    const c = await run('dpkg-checkbuilddeps', [], { cwd: path.join(tmp, 'src'), env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    return c.code === 0 ? null : c.stderr.trim().split('\n').slice(-1)[0];
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

