/**
 * Real C projects from Debian's sources for the compile benchmark: fetched
 * once with `apt-get source --download-only`, cached under
 * ${DETBUILD_CACHE:-$HOME/.cache/detbuild}, unpacked with dpkg-source, and
 * configured once (configure is not what the compile benchmark times).
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { runOk, run } from './util.mjs';

export function cacheRoot() {
  return process.env.DETBUILD_CACHE || path.join(process.env.HOME || '/root', '.cache', 'detbuild');
}

async function findDsc(dir, pkg) {
  let names = [];
  try {
    names = await fs.readdir(dir);
  } catch {
    return null;
  }
  const dsc = names.filter((n) => n.startsWith(`${pkg}_`) && n.endsWith('.dsc')).sort();
  return dsc.length ? path.join(dir, dsc[dsc.length - 1]) : null;
}

/** Downloads (once) and unpacks (once) a Debian source package; returns { pkg, version, srcDir, base }. */
export async function debianSource(pkg, log) {
  const dl = path.join(cacheRoot(), 'debsrc', pkg);
  let dsc = await findDsc(dl, pkg);
  if (!dsc) {
    await fs.mkdir(dl, { recursive: true });
    log(`fetching the Debian source of ${pkg} into ${dl}`);
    const r = await run('apt-get', ['source', '--download-only', pkg], { cwd: dl });
    dsc = await findDsc(dl, pkg);
    if (r.code !== 0 || !dsc) {
      throw new Error(
        `apt-get source ${pkg} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}\n` +
          'Hint: apt needs a deb-src entry, e.g. /etc/apt/sources.list.d/debian-src.sources holding the same ' +
          'URIs/Suites/Components/Signed-By as the existing deb entry with "Types: deb-src", then apt-get update.',
      );
    }
  }
  const version = path.basename(dsc, '.dsc').slice(pkg.length + 1);
  const base = path.join(cacheRoot(), 'bench', `${pkg}-${version}`);
  const srcDir = path.join(base, 'src');
  if (!existsSync(`${srcDir}.ok`)) {
    log(`unpacking ${path.basename(dsc)}`);
    await fs.rm(srcDir, { recursive: true, force: true });
    await fs.mkdir(base, { recursive: true });
    await runOk('dpkg-source', ['--no-check', '-x', dsc, srcDir]);
    await fs.writeFile(`${srcDir}.ok`, `${new Date().toISOString()}\n`);
  }
  return { pkg, version, srcDir, base };
}

/**
 * A tree configured inside the sandbox (paths baked in by configure are the
 * sandbox's /build/src), made once by a plain build that copies the configured
 * tree to its artifacts.  `measure` is bench/lib/measure.mjs's measure().
 */
export async function configuredForSandbox(src, configure, { measure, workDir, log }) {
  const dir = path.join(src.base, 'configured-sandbox');
  if (existsSync(`${dir}.ok`)) return dir;
  log(`configuring ${src.pkg} ${src.version} once in the sandbox (cached in ${dir})`);
  const r = await measure({
    mode: 'plain',
    srcDir: src.srcDir,
    command: `${configure} >configure.out 2>&1 || { tail -40 configure.out; exit 1; }; rm -f configure.out; cp -a . "$DETBUILD_OUT/tree"`,
    workDir,
    label: `configure-${src.pkg}`,
    keepOut: true,
  });
  if (!r.ok) throw new Error(`configuring ${src.pkg} in the sandbox failed: ${r.message}\n${r.logTail}`);
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rename(path.join(r.outDir, 'artifacts', 'tree'), dir);
  await fs.rm(r.outDir, { recursive: true, force: true });
  await fs.writeFile(`${dir}.ok`, `${new Date().toISOString()}\n`);
  return dir;
}

/**
 * The same, configured on the host for the run outside any sandbox: configured
 * in place at `tree` (configure bakes that path in), kept pristine beside it;
 * freshTree() puts a pristine copy back at that path before each run.
 */
export async function configuredOutside(src, configure, { log }) {
  const root = path.join(src.base, 'outside');
  const tree = path.join(root, 'tree');
  const pristine = path.join(root, 'pristine');
  if (!existsSync(`${pristine}.ok`)) {
    log(`configuring ${src.pkg} ${src.version} once on the host (cached in ${root})`);
    await fs.rm(root, { recursive: true, force: true });
    await fs.mkdir(root, { recursive: true });
    await fs.mkdir(tree, { recursive: true });
    await runOk('cp', ['-a', '--', `${src.srcDir}/.`, tree]);
    await runOk('sh', ['-c', `${configure} >configure.out 2>&1 || { tail -40 configure.out; exit 1; }; rm -f configure.out`], { cwd: tree });
    await runOk('cp', ['-a', '--', tree, pristine]);
    await fs.writeFile(`${pristine}.ok`, `${new Date().toISOString()}\n`);
  }
  return {
    dir: tree,
    async freshTree() {
      await fs.rm(tree, { recursive: true, force: true });
      await runOk('cp', ['-a', '--', pristine, tree]);
    },
  };
}
