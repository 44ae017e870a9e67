/**
 * Callers that hold the builder without breaking any rule of the wire format: one that never
 * reads its response and stays connected, one that uploads a byte at a time (each below the
 * idle timeout), one that uploads steadily for longer than a request may take. Each loses
 * its own build within the configured limits; the next caller is served.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/protocol/status.js';
import { decodeResponse, finalStatusOf, requestBytes, runService, serviceEnv, serviceScript, sourceTree, type ServiceRun, daemonForFile } from '../helpers/daemon.js';

const MiB = 1024 * 1024;
const qrexec = daemonForFile({
  maxRequestBytes: 4 * MiB,
  requestIdleTimeoutMs: 3000,
  requestDeadlineMs: 8000,
  requestMinBytesPerSecond: 1024,
  requestRateGraceMs: 2000,
  responseStallTimeoutMs: 3000,
  defaultLimits: { timeoutMs: 30_000, maxOutputBytes: 256 * MiB, maxOutputFiles: 100, maxLogBytes: 1 * MiB },
  maxLimits: { timeoutMs: 60_000, maxOutputBytes: 256 * MiB, maxOutputFiles: 100, maxLogBytes: 1 * MiB },
});
let src: string;
let big: string;

beforeAll(async () => {
  src = await sourceTree({ 'in.txt': 'input\n' });
  big = await sourceTree({ 'blob.bin': 'x'.repeat(200_000) });
});
afterAll(async () => {
  for (const d of [src, big]) if (d) await rm(d, { recursive: true, force: true });
});

const OK_BUILD = 'mkdir -p $DETBUILD_OUT && cat in.txt > $DETBUILD_OUT/out.txt';

/** Fails the test (instead of hanging it) when a promise takes longer than `ms`. */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function nextCallerServed(): Promise<ServiceRun> {
  const r = await within(30_000, 'the next caller', runService(qrexec.bus, 'build', await requestBytes({ command: OK_BUILD }, { sourceDir: src })));
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/** The service as qrexec runs it, with a caller that never reads what comes back. */
function silentReader(request: Buffer): { proc: ChildProcess; exited: Promise<number | null> } {
  const env = serviceEnv(qrexec.bus, 'build', 'stalled');
  const proc = spawn('env', ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), serviceScript, 'build'], { stdio: ['pipe', 'pipe', 'ignore'] });
  proc.stdin!.on('error', () => undefined);
  proc.stdin!.end(request);
  // stdout is never read: once the pipe and the daemon's buffer are full, nothing moves
  proc.stdout!.pause();
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, exited };
}

describe('a caller cannot hold the builder', () => {
  it('one that never reads its response and stays connected loses its build; the next caller is served', async () => {
    const logsBefore = qrexec.daemon.logs.length;
    const stalled = silentReader(await requestBytes({ command: 'mkdir -p $DETBUILD_OUT && head -c 48M /dev/zero > $DETBUILD_OUT/big' }, { sourceDir: src }));
    try {
      await until(() => qrexec.daemon.logs.slice(logsBefore).some((l) => /engine: success/.test(l)), 30_000, 'the stalled caller\'s build');
      await nextCallerServed();
      const logs = qrexec.daemon.logs.slice(logsBefore).join('\n');
      expect(logs).toMatch(/stopped reading/);
      expect(await within(10_000, 'the stalled caller\'s service', stalled.exited)).toBe(ExitCode.cancelled);
    } finally {
      stalled.proc.kill('SIGKILL');
    }
  });

  it('one that uploads a byte at a time is refused at the minimum rate; the next caller is served', async () => {
    const full = await requestBytes({ command: OK_BUILD }, { sourceDir: src });
    const drip = new PassThrough();
    drip.write(full.subarray(0, 40));
    let sent = 40;
    // a byte every 250 ms: never idle for the 3 s idle timeout, far below 1 KiB/s
    const timer = setInterval(() => {
      if (sent < full.length) drip.write(full.subarray(sent, ++sent));
    }, 250);
    const started = Date.now();
    try {
      const r = await within(25_000, 'the refusal of the slow caller', runService(qrexec.bus, 'build', drip));
      expect(r.code).toBe(ExitCode.rejected);
      expect(finalStatusOf(await decodeResponse(r.stdout)).message).toMatch(/too slow.*bytes per second/);
      expect(Date.now() - started).toBeLessThan(12_000);
    } finally {
      clearInterval(timer);
      drip.destroy();
    }
    await nextCallerServed();
  });

  it('one that uploads steadily for longer than a request may take is refused at the deadline', async () => {
    const full = await requestBytes({ command: OK_BUILD }, { sourceDir: big });
    const steady = new PassThrough();
    let sent = 0;
    // 4 KiB/s: above the minimum rate, but the ~200 kB request would take ~50 s
    const timer = setInterval(() => {
      if (sent < full.length) steady.write(full.subarray(sent, (sent += 1024)));
    }, 250);
    const started = Date.now();
    try {
      const r = await within(25_000, 'the refusal of the long upload', runService(qrexec.bus, 'build', steady));
      expect(r.code).toBe(ExitCode.rejected);
      expect(finalStatusOf(await decodeResponse(r.stdout)).message).toMatch(/deadline/);
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      clearInterval(timer);
      steady.destroy();
    }
    await nextCallerServed();
  });
});
