/**
 * Real components for the qrexec tests: a private dbus-daemon (Debian's, with the
 * project's own D-Bus policy file included), the real detbuildd against it, and
 * qrexec-services/qubes.DetBuild run exactly as qrexec runs it (clean environment,
 * argument as $1 and QREXEC_SERVICE_ARGUMENT, request on stdin until EOF, response on
 * stdout, exit code).
 *
 * The daemon and the service run from the compiled tree ($DETBUILD_TEST_DIST, else the
 * repository's dist/: `npm run build` first, as CI does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { afterAll, beforeAll } from 'vitest';
import { RESPONSE_FRAMES, frameTypeName } from '../../src/protocol/constants.js';
import { FrameReader } from '../../src/protocol/reader.js';
import type { Recipe } from '../../src/protocol/messages.js';
import { writeRequest } from '../../src/client/request.js';
import { runCli, type CliConditions, type CliRun } from './cli.js';
import { freshDir, repoRoot } from './trees.js';

export const serviceScript = path.join(repoRoot, 'qrexec-services', 'qubes.DetBuild');
export const policyFile = path.join(repoRoot, 'packaging', 'dbus', 'org.qubes.DetBuild1.conf');

export function distDir(): string {
  const d = process.env.DETBUILD_TEST_DIST ?? path.join(repoRoot, 'dist');
  if (!existsSync(path.join(d, 'daemon', 'main.js')) || !existsSync(path.join(d, 'service', 'main.js'))) {
    throw new Error(`no compiled daemon/service in ${d} (run 'npm run build' first)`);
  }
  return d;
}

export async function tempDir(label: string): Promise<string> {
  const d = await freshDir(`qrexec-${label}`);
  await chmod(d, 0o755);
  return d;
}

export interface Bus {
  address: string;
  dir: string;
  stop(): Promise<void>;
}

/** A private system-like bus: deny by default, as Debian's system.conf, plus our policy file. */
export async function startBus(): Promise<Bus> {
  const dir = await tempDir('bus');
  const socket = path.join(dir, 'bus');
  const conf = path.join(dir, 'bus.conf');
  await writeFile(
    conf,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>detbuild-test</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>${policyFile}</include>
</busconfig>
`,
  );
  const proc = spawn('dbus-daemon', ['--config-file', conf, '--nofork', '--nopidfile', '--print-address=1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl).trim());
    });
    proc.once('exit', (code) => reject(new Error(`dbus-daemon exited (${code}): ${stderr}`)));
    proc.once('error', reject);
  });
  return {
    address,
    dir,
    async stop() {
      await stopProcess(proc);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Daemon {
  proc: ChildProcess;
  workDir: string;
  logs: string[];
  stop(): Promise<void>;
}

/** The real detbuildd against `bus`, with a config of its own (small limits for tests). */
export async function startDaemon(bus: Bus, config: Record<string, unknown> = {}): Promise<Daemon> {
  const dir = await tempDir('daemon');
  const workDir = path.join(dir, 'work');
  const confFile = path.join(dir, 'detbuildd.json');
  await writeFile(confFile, JSON.stringify({ workDir, logLevel: 'debug', ...config }));
  const proc = spawn(process.execPath, [path.join(distDir(), 'daemon', 'main.js'), '--bus', bus.address, '--config', confFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const collect = (c: Buffer) => logs.push(...c.toString().split('\n').filter(Boolean));
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (logs.some((l) => l.includes('serving org.qubes.DetBuild1'))) {
        clearInterval(timer);
        resolve();
      }
    }, 50);
    proc.once('exit', (code) => {
      clearInterval(timer);
      reject(new Error(`detbuildd exited (${code}):\n${logs.join('\n')}`));
    });
  });
  let stopping = false;
  proc.once('exit', (code, signal) => {
    if (!stopping) console.error(`detbuildd exited unexpectedly (${signal ?? code}):\n${logs.slice(-30).join('\n')}`);
  });
  return {
    proc,
    workDir,
    logs,
    async stop() {
      stopping = true;
      await stopProcess(proc);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The private bus and the real daemon of one test file: the hooks fill it in before its tests. */
export interface Qrexec {
  bus: Bus;
  daemon: Daemon;
}

/**
 * Starts a private bus and the real detbuildd (with CONFIG) before the tests of the file that
 * calls it, and stops both after them; call it at the top level, before the file's own hooks.
 */
export function daemonForFile(config: Record<string, unknown> = {}): Qrexec {
  const q = {} as Qrexec;
  beforeAll(async () => {
    q.bus = await startBus();
    q.daemon = await startDaemon(q.bus, config);
  });
  afterAll(async () => {
    await q.daemon?.stop();
    await q.bus?.stop();
  });
  return q;
}

export async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The environment qrexec gives a service, plus the test knobs the script honours. */
export function serviceEnv(bus: Bus, arg: string | undefined, caller = 'work'): Record<string, string> {
  return {
    QREXEC_REMOTE_DOMAIN: caller,
    ...(arg === undefined ? {} : { QREXEC_SERVICE_ARGUMENT: arg }),
    QREXEC_SERVICE_FULL_NAME: arg ? `qubes.DetBuild+${arg}` : 'qubes.DetBuild',
    DETBUILD_DIST: distDir(),
    DETBUILD_NODE: process.execPath,
    DETBUILD_DBUS_ADDRESS: bus.address,
  };
}

export interface ServiceRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs qubes.DetBuild as qrexec does: `env -i` with only qrexec's variables, the argument
 * as $1, `stdin` written then closed (EOF), stdout collected whole.
 */
export function runService(bus: Bus, arg: string | undefined, stdin: Buffer | Readable | null, opts: { caller?: string; killAfterMs?: number } = {}): Promise<ServiceRun> {
  const env = serviceEnv(bus, arg, opts.caller);
  const args = ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), serviceScript, ...(arg === undefined ? [] : [arg])];
  const proc = spawn('env', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  proc.stdout.on('data', (c: Buffer) => out.push(c));
  proc.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  proc.stdin.on('error', () => undefined); // the service may refuse before reading everything
  if (stdin === null) proc.stdin.end();
  else if (Buffer.isBuffer(stdin)) proc.stdin.end(stdin);
  else stdin.pipe(proc.stdin);
  if (opts.killAfterMs !== undefined) setTimeout(() => proc.kill('SIGKILL'), opts.killAfterMs);
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: err }));
  });
}

export interface DecodedFrame {
  type: string;
  json: unknown;
  bytes: Buffer;
}

/** Every frame of a whole response; throws on a malformed one (a truncation included). */
export async function decodeResponse(buf: Buffer): Promise<DecodedFrame[]> {
  const reader = new FrameReader([buf], { allowed: RESPONSE_FRAMES });
  await reader.readStreamHeader('response');
  const frames: DecodedFrame[] = [];
  for (;;) {
    const f = await reader.next();
    if (!f) return frames;
    const type = frameTypeName(f.type) ?? `0x${f.type.toString(16)}`;
    frames.push({ type, json: type === 'data' ? null : JSON.parse(f.payload.toString('utf8')), bytes: f.payload });
  }
}

/** The final status frame (the last one), or a failure naming what came instead. */
export function finalStatusOf(frames: DecodedFrame[]): { status: string; ok: boolean; message: string; exitCode: number } {
  const last = frames[frames.length - 1];
  if (!last || last.type !== 'status') throw new Error(`no final status frame (last: ${last?.type ?? 'none'})`);
  return last.json as { status: string; ok: boolean; message: string; exitCode: number };
}

/** A whole request as bytes (for stdin), made by the client's own writer. */
export async function requestBytes(recipe: Recipe, source: { sourceDir: string } | { tarStream: Readable }): Promise<Buffer> {
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  await writeRequest(sink, recipe, source);
  return Buffer.concat(chunks);
}

/** A small source tree: files given as relative path -> content (mode 0755 when content starts with #!). */
export async function sourceTree(files: Record<string, string>): Promise<string> {
  const dir = await tempDir('src');
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, content, { mode: content.startsWith('#!') ? 0o755 : 0o644 });
  }
  return dir;
}

/** What `detbuild remote` needs to reach the real service and daemon through the qrexec-client-vm double. */
export function clientEnv(bus: Bus): Record<string, string> {
  return {
    PATH: `${path.join(repoRoot, 'test', 'client', 'bin')}:${process.env.PATH}`,
    DETBUILD_SERVICE: serviceScript,
    DETBUILD_DIST: distDir(),
    DETBUILD_NODE: process.execPath,
    DETBUILD_DBUS_ADDRESS: bus.address,
  };
}

/** `detbuild ARGS...` as a caller qube runs it: through the double into the real service and daemon. */
export function remoteCli(bus: Bus, args: string[], c: CliConditions = {}): Promise<CliRun> {
  return runCli(args, { ...c, env: { ...clientEnv(bus), ...c.env } });
}
