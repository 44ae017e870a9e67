#!/usr/bin/env node
/**
 * npm run bench:template — time and size of a builder template regeneration,
 * and the ratio of the regeneration under the engine to plain mmdebstrap (the
 * same script in the same sandbox layout, without the supervisor and without
 * SOURCE_DATE_EPOCH).
 *
 * The package set is the builder's as far as Debian's archive serves it: the
 * closure of the essential set, usr-is-merged, apt and the packages
 * qubes-detbuild-vm and the template recipe need (BUILDER_ROOTS), at the
 * versions the archive this machine reaches serves today. The Qubes agent
 * packages of a real template come from Qubes' own repository and are not in
 * it. The archive is taken from this machine's apt sources.
 *
 * Environment: BENCH_N (engine runs, default 2: the second checks the hashes),
 * DETBUILD_CACHE (downloaded .debs, default ~/.cache/detbuild), BENCH_KEEP=1.
 * Writes the block of bench/RESULTS.md between <!-- template-bench:start/end -->.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoDir = path.dirname(benchDir);
const cli = path.join(repoDir, 'dist', 'cli', 'main.js');
const tpl = await import(path.join(repoDir, 'dist', 'recipes', 'template', 'index.js'));
const N = Number(process.env.BENCH_N ?? 2);
const cache = path.join(process.env.DETBUILD_CACHE ?? path.join(os.homedir(), '.cache', 'detbuild'), 'template-debs');

if (!existsSync(cli)) throw new Error('run `npm run build` first');
const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'detbuild-bench-template-'));
await fs.mkdir(cache, { recursive: true });

const suite = 'bookworm';
const uri = await tpl.machineArchiveUri(suite);
if (!uri) throw new Error(`no apt source of this machine serves ${suite}`);
const archives = [{ uri, suite, components: ['main'] }];
const apt = await tpl.createAptEnv(path.join(scratch, 'apt'), archives, 'amd64');
await tpl.aptUpdate(apt);
const essential = (await tpl.availablePackages(apt)).filter((p) => p.essential).map((p) => p.name);
const names = [...new Set([...essential, 'usr-is-merged', 'apt', ...tpl.BUILDER_ROOTS])];
const packages = await tpl.resolveClosure(apt, names);
const lock = tpl.makeLock(packages, { suite, architecture: 'amd64', archives, epoch: 1_700_000_000 });
const lockFile = path.join(scratch, 'builder.lock.json');
await fs.writeFile(lockFile, tpl.serializeLock(lock));
console.error(`bench: ${lock.packages.length} packages`);

// phase 1 once (downloads into the cache); then each run builds the same source directory
const t0 = performance.now();
const src = path.join(scratch, 'src');
await tpl.fetchTemplateSources(lock, { sourceDir: src, workDir: path.join(scratch, 'fetch'), cacheDir: cache });
const fetchMs = performance.now() - t0;
const debBytes = Number(execFileSync('du', ['-sb', path.join(src, 'repo')], { encoding: 'utf8' }).split('\t')[0]);

function build(mode, i) {
  const out = path.join(scratch, `${mode}-${i}`);
  const args = [cli, 'build', src, '--out', out, '--quiet', ...(mode === 'plain' ? ['--plain'] : [])];
  const env = { ...process.env };
  delete env.SOURCE_DATE_EPOCH;
  const load0 = os.loadavg()[0];
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${mode} run failed (${r.status}): ${r.stderr.split('\n').slice(-5).join('\n')}`);
  const manifest = JSON.parse(execFileSync('cat', [path.join(out, 'manifest.json')], { encoding: 'utf8' }));
  const art = Object.fromEntries(manifest.artifacts.map((a) => [a.path, a]));
  // the machine's 1-minute load average before and after: others' work skews the times
  return { ms, tar: art['root.tar'], img: art['root.img'], load: [load0, os.loadavg()[0]] };
}

const engineRuns = [];
for (let i = 0; i < N; i++) {
  engineRuns.push(build('engine', i));
  console.error(`bench: engine run ${i + 1}: ${(engineRuns[i].ms / 1000).toFixed(1)} s`);
}
const plainRun = build('plain', 0);
console.error(`bench: plain run: ${(plainRun.ms / 1000).toFixed(1)} s`);

const e = engineRuns[0];
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const engineMs = med(engineRuns.map((r) => r.ms));
const identical = engineRuns.every((r) => r.tar.sha256 === e.tar.sha256 && r.img.sha256 === e.img.sha256);
const mib = (b) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
const imgUsed = Number(execFileSync('du', ['-B1', path.join(scratch, 'engine-0', 'artifacts', 'root.img')], { encoding: 'utf8' }).split('\t')[0]);
const commit = spawnSync('git', ['-C', repoDir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();

const block = `<!-- template-bench:start -->
## Builder template regeneration (bench/template.mjs)

Last run: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${commit}; ${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 1024 ** 3)} GiB, node ${process.version}.

Package set: ${lock.packages.length} packages, the closure of Debian bookworm's essential set,
usr-is-merged, apt and ${tpl.BUILDER_ROOTS.join(', ')} at the archive's current versions
(an approximation of the builder template: its Qubes agent packages come from Qubes' repository).
Phase 1 (apt-get update + download of ${mib(debBytes)} of .debs into the cache, outside the engine): ${(fetchMs / 1000).toFixed(1)} s.
Phase 2 is \`detbuild build\` of the fetched source directory: mmdebstrap (fakechroot mode) into a
root tarball, the installed-set check, \`mkfs.ext4 -d\` and the inode-time fix.

| run | time | load avg (before / after) | root.tar | root.img |
|---|---|---|---|---|
${engineRuns.map((r, i) => `| engine ${i + 1} | ${(r.ms / 1000).toFixed(1)} s | ${r.load.map((l) => l.toFixed(1)).join(' / ')} | ${mib(r.tar.size)} \`${r.tar.sha256.slice(0, 12)}\` | ${mib(r.img.size)} \`${r.img.sha256.slice(0, 12)}\` |`).join('\n')}
| plain (no engine, no SOURCE_DATE_EPOCH) | ${(plainRun.ms / 1000).toFixed(1)} s | ${plainRun.load.map((l) => l.toFixed(1)).join(' / ')} | ${mib(plainRun.tar.size)} \`${plainRun.tar.sha256.slice(0, 12)}\` | ${mib(plainRun.img.size)} \`${plainRun.img.sha256.slice(0, 12)}\` |

Engine / plain: **${(engineMs / plainRun.ms).toFixed(2)}x** (lower median of ${N} engine run${N > 1 ? "s" : ""} over one plain run).
The engine runs ${identical ? 'gave identical' : 'did NOT give identical'} tarballs and images${N > 1 ? '' : ' (one run only)'}; the plain run's differ from them.
root.img allocates ${mib(imgUsed)} of its ${mib(e.img.size)} (a sparse file).
<!-- template-bench:end -->`;

const resultsFile = path.join(benchDir, 'RESULTS.md');
let text = await fs.readFile(resultsFile, 'utf8');
const re = /<!-- template-bench:start -->[\s\S]*?<!-- template-bench:end -->/;
text = re.test(text) ? text.replace(re, block) : `${text.trimEnd()}\n\n${block}\n`;
await fs.writeFile(resultsFile, text);
console.log(block);
if (!process.env.BENCH_KEEP) await fs.rm(scratch, { recursive: true, force: true });
else console.error(`bench: kept ${scratch}`);
