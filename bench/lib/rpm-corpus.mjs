/**
 * RPM builds for the corpus (`npm run corpus`, block `corpus-rpm` of
 * bench/RESULTS.md) and the rpm recipe's tests: one `detbuild rpm` run under
 * the caller's conditions of bench/lib/corpus.mjs (CONDITIONS A and B), a
 * plain `rpmbuild --rebuild` on the host (the control without detbuild, with
 * or without SOURCE_DATE_EPOCH exported), and what differs between two RPMs
 * (the header tags rpm lists in `rpm -qp --xml`, and `rpm -qp --dump` lines).
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { repoDir, run, startLoad } from './corpus.mjs';

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

/** One line: `NAME: tags Buildtime, Filemtimes; 3 --dump lines` for the first differing packages. */
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
    parts.push(`${name}: ${d.tags.length ? `tags ${d.tags.join(', ')}` : 'no header tag (payload only)'}; ${d.dumpLines} --dump line${d.dumpLines === 1 ? '' : 's'}`);
  }
  if (diff.length > max) parts.push(`(+${diff.length - max} more)`);
  return parts.join('; ');
}
