/**
 * `detbuild remote` with several inputs: each build goes in its own qrexec call to
 * @dispvm:detbuild-dvm; the qrexec double gives each call a builder of its own from a pool
 * of real daemons (one build at a time each, as a disposable serves one build), so
 * concurrent builds are concurrent builders. Every build must get exactly its own result;
 * a failing build, a builder that dies and a Ctrl-C leave the other builds intact.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/protocol/status.js';
import { makeProbePackage } from '../recipes/probe-package.js';
import { clientEnv, sourceTree, startBus, startDaemon, stopProcess, tempDir, type Bus, type Daemon } from '../helpers/daemon.js';
import { startCli } from '../helpers/cli.js';

const POOL = 4;
let buses: Bus[] = [];
let daemons: Daemon[] = [];
let root: string;
let poolDir: string;

beforeAll(async () => {
  root = await tempDir('many');
  poolDir = path.join(root, 'pool');
  await mkdir(poolDir);
  buses = await Promise.all(Array.from({ length: POOL }, () => startBus()));
  daemons = await Promise.all(buses.map((b) => startDaemon(b)));
}, 120_000);
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await Promise.all(buses.map((b) => b.stop()));
  if (root && !process.env.DETBUILD_TEST_KEEP) await rm(root, { recursive: true, force: true });
  for (const t of trees) await rm(t, { recursive: true, force: true });
});

/** The first builder for single calls; every disposable a call asks for comes from the pool of builders. */
function env(): Record<string, string> {
  return { ...clientEnv(buses[0]!), DETBUILD_TEST_DISPVM_POOL: buses.map((b) => b.address).join(' '), DETBUILD_TEST_POOL_DIR: poolDir };
}

function remote(args: string[]) {
  return startCli(['remote', ...args], { env: env() });
}

const trees: string[] = [];

/** A source tree whose build leaves its own id, after some real time. */
async function project(id: string, command = 'mkdir -p $DETBUILD_OUT && cp id.txt $DETBUILD_OUT/ && sleep 1 && date > $DETBUILD_OUT/date && echo built $(cat id.txt)') {
  const dir = await sourceTree({ 'id.txt': `${id}\n`, 'detbuild.json': JSON.stringify({ command }) });
  trees.push(dir);
  return dir;
}

const finishedBuilds = (d: Daemon) => d.logs.filter((l) => /finished: /.test(l)).length;

interface Outcome {
  name: string;
  ok: boolean;
  status: string;
  exitCode: number;
  outDir: string | null;
  logPath: string | null;
}

describe('detbuild remote INPUT... (one disposable per build)', () => {
  it('4 builds at once on 4 builders: each gets exactly its own result, and each builder served one', async () => {
    const srcs = await Promise.all(['alpha', 'bravo', 'charlie', 'delta'].map((id) => project(id)));
    const before = daemons.map(finishedBuilds);
    const out = path.join(root, 'four');
    const started = Date.now();
    const r = await remote([...srcs, '--out', out, '--jobs', '4']);
    const wall = Date.now() - started;
    expect(r.exitCode, r.stderr).toBe(0);
    const names = srcs.map((s) => path.basename(s));
    for (const [i, id] of ['alpha', 'bravo', 'charlie', 'delta'].entries()) {
      const dir = path.join(out, names[i]!);
      expect(await readFile(path.join(dir, 'artifacts', 'id.txt'), 'utf8')).toBe(`${id}\n`);
      expect(await readFile(path.join(dir, 'build.log'), 'utf8')).toContain(`built ${id}`);
      expect((await readdir(dir)).sort()).toEqual(['artifacts', 'build.log', 'environment.buildinfo', 'manifest.json', 'provenance.intoto.json', 'record.json']);
    }
    // one build per builder: no builder was free for a second one while the others worked
    expect(daemons.map((d, i) => finishedBuilds(d) - before[i]!)).toEqual([1, 1, 1, 1]);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Outcome[];
    expect(summary.map((o) => [o.name, o.status])).toEqual(names.map((n) => [n, 'success']));
    expect(r.stdout.split('\n')[0]).toMatch(/^build\s+result\s+time\s+artifacts\s+exit\s+where$/);
    for (const n of names) expect(r.stdout).toMatch(new RegExp(`^${n}\\s+success\\s+[\\d.]+ s\\s+2\\s+0\\s+${out}/${n}$`, 'm'));
    // not a terminal: a time-stamped line per change of each build
    for (const n of names) expect(r.stderr).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${n}: success, 2 artifacts \\(`, 'm'));
    expect(r.stderr).toMatch(/: run$/m);
    console.log(`4 builds of >= 1 s each, 4 builders: ${wall} ms`);
  });

  it('a FILE.dsc input is built with the dpkg recipe (its package staged alone), beside a source tree', async () => {
    const debs = path.join(root, 'debs');
    await mkdir(debs);
    const dsc = await makeProbePackage(debs);
    // the directory holds more than the package: only the .dsc and its files are sent
    await mkdir(path.join(debs, 'unrelated'));
    const tree = await project('tree');
    const out = path.join(root, 'mixed');
    const r = await remote([dsc, tree, '--out', out, '--jobs', '2']);
    expect(r.exitCode, r.stderr).toBe(0);
    const name = path.basename(dsc, '.dsc');
    const files = await readdir(path.join(out, name, 'artifacts'));
    expect(files.some((f) => f.endsWith('.deb'))).toBe(true);
    const st = JSON.parse(await readFile(path.join(out, name, 'provenance.intoto.json'), 'utf8')) as { predicate: { buildDefinition: { externalParameters: { recipe: unknown } } } };
    expect(st.predicate.buildDefinition.externalParameters.recipe).toEqual({ kind: 'dpkg', dsc: path.basename(dsc) });
    expect(await readFile(path.join(out, path.basename(tree), 'artifacts', 'id.txt'), 'utf8')).toBe('tree\n');
  });

  it('a failing build does not stop the others; its log is kept; the exit status is its', async () => {
    const srcs = [await project('one'), await project('broken', 'echo about to fail; exit 3'), await project('two'), await project('three')];
    const out = path.join(root, 'failing');
    const r = await remote([...srcs, '--out', out, '--jobs', '2']);
    expect(r.exitCode).toBe(ExitCode.failed);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Outcome[];
    expect(summary.map((o) => o.status)).toEqual(['success', 'failed', 'success', 'success']);
    const broken = summary[1]!;
    expect(existsSync(path.join(out, broken.name))).toBe(false);
    expect(await readFile(path.join(out, `${broken.name}.failed.log`), 'utf8')).toContain('about to fail');
    for (const o of [summary[0]!, summary[2]!, summary[3]!]) expect(existsSync(path.join(o.outDir!, 'provenance.intoto.json'))).toBe(true);
    expect(r.stderr).toMatch(/^detbuild remote: 1 of 4 builds did not succeed$/m);
  });

  it('Ctrl-C cancels the running builds on their builders; the finished ones stay intact', async () => {
    // busy and talking, for good: the builder learns that its caller went away when it sends the
    // next log line (a sleep would not do: timed waits end in logical time once nothing else runs)
    const slow = 'i=0; while :; do i=$((i+1)); if [ $((i % 5000)) = 0 ]; then echo tick $i; fi; done';
    const srcs = [await project('quick1'), await project('quick2'), await project('slow1', slow), await project('slow2', slow)];
    const out = path.join(root, 'cancelled');
    const before = daemons.map((d) => d.logs.filter((l) => /finished: cancelled/.test(l)).length);
    const child = remote([...srcs, '--out', out, '--jobs', '4']);
    const names = srcs.map((s) => path.basename(s));
    const deadline = Date.now() + 60_000;
    while (!(existsSync(path.join(out, names[0]!)) && existsSync(path.join(out, names[1]!)))) {
      if (Date.now() > deadline) throw new Error('the quick builds did not finish');
      await new Promise((r) => setTimeout(r, 100));
    }
    const interrupted = Date.now();
    child.kill('SIGINT');
    const r = await child;
    expect(Date.now() - interrupted).toBeLessThan(10_000);
    expect(r.exitCode).toBe(ExitCode.cancelled);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Outcome[];
    expect(summary.map((o) => o.status)).toEqual(['success', 'success', 'cancelled', 'cancelled']);
    for (const n of names.slice(0, 2)) expect((await readdir(path.join(out, n))).sort()).toEqual(['artifacts', 'build.log', 'environment.buildinfo', 'manifest.json', 'provenance.intoto.json', 'record.json']);
    for (const n of names.slice(2)) expect(existsSync(path.join(out, n))).toBe(false);
    expect((await readdir(out)).filter((f) => f.includes('.partial-'))).toEqual([]);
    // the builders noticed the caller was gone and stopped the builds (they do not run on for 30 s)
    const stopDeadline = Date.now() + 20_000;
    while (daemons.reduce((n, d, i) => n + d.logs.filter((l) => /finished: cancelled/.test(l)).length - before[i]!, 0) < 2) {
      if (Date.now() > stopDeadline) throw new Error(`the builders did not cancel:\n${daemons.map((d) => d.logs.slice(-5).join('\n')).join('\n--\n')}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  });

  it('a builder that dies mid-build (daemon and worker killed) fails that build only', async () => {
    const marker = 'doomed-build-marker';
    const srcs = [await project('steady1'), await project('doomed', `echo ${marker}; mkfifo hang && cat hang; mkdir -p $DETBUILD_OUT`), await project('steady2'), await project('steady3')];
    const out = path.join(root, 'dying');
    const child = remote([...srcs, '--out', out, '--jobs', '4']);
    const deadline = Date.now() + 60_000;
    let victim: Daemon | undefined;
    while (!victim) {
      victim = daemons.find((d) => d.logs.some((l) => l.includes(marker)));
      if (Date.now() > deadline) throw new Error('the doomed build did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    // the whole builder goes: the daemon's build worker first (with the build it runs), then the daemon
    await execa('pkill', ['-KILL', '-P', String(victim.proc.pid)], { reject: false });
    await stopProcess(victim.proc, 'SIGKILL');
    const r = await child;
    expect(r.exitCode).not.toBe(0);
    // the killed worker's build goes with it: nothing of its sandbox runs on (its supervisor
    // follows bubblewrap's end; it used to stay, blocked on the FIFO, as an orphaned pid 1)
    const goneBy = Date.now() + 15_000;
    while ((await execa('pgrep', ['-f', marker], { reject: false })).exitCode === 0) {
      if (Date.now() > goneBy) throw new Error(`the dead builder's build still runs: ${(await execa('pgrep', ['-af', marker], { reject: false })).stdout}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as Outcome[];
    expect(summary.map((o) => o.ok), JSON.stringify(summary, null, 1)).toEqual([true, false, true, true]);
    expect(summary[1]!.status).toMatch(/^(transport-error|error)$/);
    for (const o of [summary[0]!, summary[2]!, summary[3]!]) expect(await readFile(path.join(o.outDir!, 'artifacts', 'id.txt'), 'utf8')).toMatch(/^steady\d\n$/);
    // a disposable takes its disk with it; here the killed worker's engine workspace stays behind
    for (const d of await readdir(tmpdir())) {
      if (!d.startsWith('detbuild-ws-')) continue;
      const id = await readFile(path.join(tmpdir(), d, 'src', 'id.txt'), 'utf8').catch(() => '');
      if (id === 'doomed\n') await rm(path.join(tmpdir(), d), { recursive: true, force: true });
    }
  });
});
