/**
 * Stream benchmark of qubes.DetBuild: one large artifact (default 1 GiB) through
 * daemon -> service descriptors -> qrexec-client-vm (the test double, a plain pass-through
 * here) -> `detbuild remote`'s client, against `cat SRC | cat > DST` of the same bytes
 * through a pipe, as a ratio; plus the peak memory (VmHWM) of the daemon's two processes
 * and of the client, at a small and at the large size (memory must not grow with size).
 *
 * Run (compiles this file alone, then runs it against the compiled tree in dist/):
 *   npm run build && npx tsc bench/stream.ts --outDir bench/work/stream --module nodenext \
 *     --target es2022 --types node --skipLibCheck && node bench/work/stream/stream.js [MiB]
 *
 * Each size is measured BENCH_STREAM_RUNS times (default 3), the stream and cat runs
 * interleaved; the table gives the medians and the peak memory of all runs (other load on
 * this machine moves single runs by 2x).
 *
 * Appends its results to bench/RESULTS.md between <!-- stream-bench:start/end -->.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, existsSync(path.join(here, 'RESULTS.md')) ? '..' : '../../..');
const dist = path.join(repo, 'dist');
const MiB = 1024 * 1024;

function vmHwmKiB(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Polls the peak RSS of a process (VmHWM only grows, so the last reading is the peak so far). */
function watchPeak(pids: () => number[]): { stop(): Record<number, number> } {
  const peak: Record<number, number> = {};
  const tick = () => {
    for (const p of pids()) peak[p] = Math.max(peak[p] ?? 0, vmHwmKiB(p));
  };
  const timer = setInterval(tick, 50);
  return {
    stop() {
      tick();
      clearInterval(timer);
      return peak;
    },
  };
}

async function startBus(dir: string): Promise<{ address: string; proc: ChildProcess }> {
  const conf = path.join(dir, 'bus.conf');
  await fs.writeFile(
    conf,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>detbuild-bench</type><listen>unix:path=${dir}/bus</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_type="method_call"/><allow receive_type="method_return"/><allow receive_type="error"/><allow receive_type="signal"/>
<allow send_requested_reply="true" send_type="method_return"/><allow send_requested_reply="true" send_type="error"/></policy>
<include>${path.join(repo, 'packaging/dbus/org.qubes.DetBuild1.conf')}</include></busconfig>`,
  );
  const proc = spawn('dbus-daemon', ['--config-file', conf, '--nofork', '--nopidfile', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const address = await new Promise<string>((resolve) => proc.stdout!.once('data', (c: Buffer) => resolve(c.toString().split('\n')[0]!.trim())));
  return { address, proc };
}

async function startDaemon(dir: string, address: string): Promise<ChildProcess> {
  const conf = path.join(dir, 'detbuildd.json');
  await fs.writeFile(conf, JSON.stringify({ workDir: path.join(dir, 'work'), defaultLimits: { timeoutMs: 3_600_000, maxOutputBytes: 8 * 1024 * MiB, maxOutputFiles: 10, maxLogBytes: MiB } }));
  const proc = spawn(process.execPath, [path.join(dist, 'daemon/main.js'), '--bus', address, '--config', conf], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('serving org.qubes.DetBuild1')) resolve();
    });
  });
  return proc;
}

/** The client, as a process of its own so that its memory is its own; prints its timings as JSON. */
const CLIENT = `
const { runRemote } = await import(process.env.BENCH_CLIENT);
let first = 0, last = 0;
const t0 = Date.now();
const r = await runRemote({ mode: 'build', target: 'builder', sourceDir: process.env.BENCH_SRC, outDir: process.env.BENCH_OUT,
  recipe: { command: 'mkdir -p $DETBUILD_OUT && head -c ' + process.env.BENCH_BYTES + ' /dev/zero > $DETBUILD_OUT/big' },
  onProgress: (p) => { if (p.phase === 'download') { if (!first) first = Date.now(); last = Date.now(); } } });
process.stdout.write(JSON.stringify({ ok: r.ok, message: r.message, totalMs: Date.now() - t0, downloadMs: last - first, maxRssKiB: process.resourceUsage().maxRSS }));
`;

interface Sample {
  bytes: number;
  downloadMs: number;
  catMs: number;
  daemonFrontKiB: number;
  daemonWorkerKiB: number;
  clientKiB: number;
}

async function measure(bytes: number): Promise<Sample> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'detbuild-bench-stream-'));
  const bus = await startBus(dir);
  const daemon = await startDaemon(dir, bus.address);
  const src = path.join(dir, 'src');
  await fs.mkdir(src);
  await fs.writeFile(path.join(src, 'README'), 'stream bench\n');
  const out = path.join(dir, 'out');
  const daemonPeak = watchPeak(() => [daemon.pid!, ...childrenOf(daemon.pid!)]);
  try {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', CLIENT], {
      env: {
        ...process.env,
        PATH: `${path.join(repo, 'test/client/bin')}:${process.env.PATH}`,
        BENCH_CLIENT: path.join(dist, 'client/index.js'),
        BENCH_SRC: src,
        BENCH_OUT: out,
        BENCH_BYTES: String(bytes),
        DETBUILD_SERVICE: path.join(repo, 'qrexec-services/qubes.DetBuild'),
        DETBUILD_DIST: dist,
        DETBUILD_NODE: process.execPath,
        DETBUILD_DBUS_ADDRESS: bus.address,
      },
      maxBuffer: MiB,
    });
    const client = JSON.parse(stdout) as { ok: boolean; message: string; downloadMs: number; maxRssKiB: number };
    if (!client.ok) throw new Error(`the build failed: ${client.message}`);
    const peaks = daemonPeak.stop();
    const worker = childrenOf(daemon.pid!)[0];
    // the same bytes through a pipe, file to file
    const big = path.join(out, 'artifacts/big');
    const t0 = process.hrtime.bigint();
    await run('sh', ['-c', `cat "${big}" | cat > "${dir}/cat-copy"`]);
    const catMs = Number(process.hrtime.bigint() - t0) / 1e6;
    return {
      bytes,
      downloadMs: client.downloadMs,
      catMs,
      daemonFrontKiB: peaks[daemon.pid!] ?? 0,
      daemonWorkerKiB: worker ? (peaks[worker] ?? 0) : Math.max(0, ...Object.entries(peaks).filter(([p]) => Number(p) !== daemon.pid).map(([, v]) => v)),
      clientKiB: client.maxRssKiB,
    };
  } finally {
    daemon.kill('SIGTERM');
    bus.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function mib(kib: number): string {
  return `${(kib / 1024).toFixed(0)} MiB`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

/** n runs of one size: medians of the times, the largest peaks */
async function measureRuns(bytes: number, n: number): Promise<Sample & { downloads: number[]; cats: number[] }> {
  const runs: Sample[] = [];
  for (let i = 0; i < n; i++) runs.push(await measure(bytes));
  return {
    bytes,
    downloadMs: median(runs.map((r) => r.downloadMs)),
    catMs: median(runs.map((r) => r.catMs)),
    daemonFrontKiB: Math.max(...runs.map((r) => r.daemonFrontKiB)),
    daemonWorkerKiB: Math.max(...runs.map((r) => r.daemonWorkerKiB)),
    clientKiB: Math.max(...runs.map((r) => r.clientKiB)),
    downloads: runs.map((r) => r.downloadMs),
    cats: runs.map((r) => r.catMs),
  };
}

async function main(): Promise<void> {
  if (!existsSync(path.join(dist, 'daemon/main.js'))) throw new Error('run npm run build first');
  const big = Number(process.argv[2] ?? 1024) * MiB;
  const small = 64 * MiB;
  const n = Number(process.env.BENCH_STREAM_RUNS ?? 3);
  const samples = [await measureRuns(small, n), await measureRuns(big, n)];
  const commit = (await run('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'])).stdout.trim();
  const rows = samples.map((s) => {
    const mbps = (s.bytes / MiB / (s.downloadMs / 1000)).toFixed(0);
    const catMbps = (s.bytes / MiB / (s.catMs / 1000)).toFixed(0);
    const each = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(', ');
    return `| ${s.bytes / MiB} MiB | ${(s.downloadMs / 1000).toFixed(2)} s (${mbps} MiB/s; runs ${each(s.downloads)}) | ${(s.catMs / 1000).toFixed(2)} s (${catMbps} MiB/s; runs ${each(s.cats)}) | ${(s.downloadMs / s.catMs).toFixed(2)}x | ${mib(s.daemonFrontKiB)} / ${mib(s.daemonWorkerKiB)} | ${mib(s.clientKiB)} |`;
  });
  const block = `<!-- stream-bench:start -->
## qrexec stream throughput (bench/stream.ts)

Last run: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${commit}; ${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 1024 ** 3)} GiB, node ${process.version}.

One artifact of zeros built by the engine, streamed daemon worker -> the service's stdout descriptor
(passed over D-Bus) -> qrexec-client-vm (here the test double: a pass-through, no Xen vchan) ->
\`detbuild remote\`'s client, which checks its sha256 and writes it to disk. "stream" is the
client's download phase (first to last artifact byte); "cat" copies the received file through
a pipe (\`cat F | cat > G\`); the ratio is stream / cat (lower is better, 1 = as fast as cat).
Medians of ${n} runs of each (stream and cat interleaved); peaks are the largest of the runs.
Peak memory is VmHWM: of the daemon's front and worker processes (each started fresh for the
run), and of the client process.

| artifact | stream | cat through a pipe | ratio | daemon peak (front / worker) | client peak |
|---|---|---|---|---|---|
${rows.join('\n')}

Memory does not grow with the artifact: from ${samples[0]!.bytes / MiB} MiB to ${samples[1]!.bytes / MiB} MiB the
worker's peak changed by ${mib(samples[1]!.daemonWorkerKiB - samples[0]!.daemonWorkerKiB)} and the client's by ${mib(samples[1]!.clientKiB - samples[0]!.clientKiB)}.
<!-- stream-bench:end -->`;
  const file = path.join(repo, 'bench/RESULTS.md');
  let text = existsSync(file) ? await fs.readFile(file, 'utf8') : '# Benchmark results\n';
  const re = /<!-- stream-bench:start -->[\s\S]*?<!-- stream-bench:end -->/;
  text = re.test(text) ? text.replace(re, block) : `${text.trimEnd()}\n\n${block}\n`;
  await fs.writeFile(file, text);
  process.stdout.write(`${block}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/stream: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
