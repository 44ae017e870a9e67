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
 * into a source package at run time from its fetched mirror (git archive;
 * never committed here).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

/**
 * A Qubes component as a source package: `git archive` of the fetched mirror's
 * HEAD into an orig tarball, then `dpkg-source -b`.  Returns null (with the
 * reason) when the mirror is absent (CI has none).
 */
export async function qubesDsc(entry) {
  const mirror = path.join(process.env.DETBUILD_MIRRORS || '/work/.mirror', entry.mirror, 'repo');
  if (!existsSync(mirror)) return { dsc: null, reason: `mirror ${mirror} absent (fetch github:${entry.mirror.replace('+', '/')} first)` };
  const git = (...a) => run('git', ['--git-dir', mirror, ...a]);
  const head = (await git('rev-parse', 'HEAD')).stdout.trim();
  const changelog = (await git('show', 'HEAD:debian/changelog')).stdout;
  const m = /^(\S+) \(([^)]+)\)/.exec(changelog);
  if (!m) return { dsc: null, reason: `no debian/changelog in ${mirror}` };
  const [, source, version] = m;
  const upstream = version.replace(/^\d+:/, '').replace(/-[^-]+$/, '');
  const dir = path.join(cacheRoot(), 'qubes-src', `${entry.package}-${head.slice(0, 12)}`);
  const dsc = path.join(dir, `${source}_${version.replace(/^\d+:/, '')}.dsc`);
  if (existsSync(dsc)) return { dsc, reason: null, commit: head };
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const tree = path.join(dir, `${source}-${upstream}`);
  await fs.mkdir(tree);
  // the orig tarball without debian/, as the Qubes builder makes it; deterministic (git archive: commit time, sorted)
  const orig = path.join(dir, `${source}_${upstream}.orig.tar.gz`);
  let r = await run('sh', ['-c', `git --git-dir "$1" archive --format=tar --prefix="$2/" HEAD | gzip -n9 > "$3"`, 'sh', mirror, `${source}-${upstream}`, orig]);
  if (r.code !== 0) throw new Error(`git archive of ${mirror} failed: ${r.stderr}`);
  r = await run('tar', ['-xzf', orig, '-C', dir]);
  if (r.code !== 0) throw new Error(`unpacking ${orig} failed: ${r.stderr}`);
  r = await run('dpkg-source', ['-b', path.basename(tree)], { cwd: dir, env: { ...process.env, LC_ALL: 'C.UTF-8', SOURCE_DATE_EPOCH: '0' } });
  if (r.code !== 0) throw new Error(`dpkg-source -b for ${source} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`);
  await fs.rm(tree, { recursive: true, force: true });
  return { dsc, reason: null, commit: head };
}

/** The caller's real conditions of each run of a pair (the engine must not care; a plain build may). */
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
  return `${name}: ${shown || 'differs'}${(leaf.length || members.length) > 3 ? ` (+${(leaf.length || members.length) - 3} more)` : ''}${firstChange ? ` — e.g. \`${firstChange.replace(/`/g, "'")}\`` : ''}`;
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

