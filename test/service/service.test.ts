/**
 * qrexec-services/qubes.DetBuild run exactly as qrexec runs it (env -i, QREXEC_* variables,
 * argument as $1, request on stdin until EOF, response on stdout, exit code), against the
 * real detbuildd on a private dbus-daemon.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/protocol/status.js';
import { decodeResponse, finalStatusOf, requestBytes, runService, serviceEnv, serviceScript, sourceTree, tempDir, type DecodedFrame, daemonForFile, startBus } from '../helpers/daemon.js';

const qrexec = daemonForFile();
let src: string;
beforeAll(async () => {
  src = await sourceTree({ 'hello.c': 'int main(void) { return 0; }\n', 'data/in.txt': 'input\n' });
});
afterAll(async () => {
  if (src) await rm(src, { recursive: true, force: true });
});

const BUILD = 'mkdir -p $DETBUILD_OUT/sub && cat data/in.txt > $DETBUILD_OUT/copy.txt && date +%s > $DETBUILD_OUT/sub/when && head -c 16 /dev/urandom | od -An -tx1 > $DETBUILD_OUT/random && echo built';

function types(frames: DecodedFrame[]): string[] {
  return frames.map((f) => f.type).filter((t, i, a) => t !== a[i - 1]);
}

/** Artifacts of a response, reassembled and checked against the manifest. */
function artifactsOf(frames: DecodedFrame[]): Map<string, Buffer> {
  const manifest = frames.find((f) => f.type === 'manifest')!.json as { artifacts: Array<{ path: string; size: number; sha256: string }> };
  const out = new Map<string, Buffer>();
  let current: string | null = null;
  for (const f of frames) {
    if (f.type === 'artifact') {
      current = (f.json as { path: string }).path;
      out.set(current, Buffer.alloc(0));
    } else if (f.type === 'data') out.set(current!, Buffer.concat([out.get(current!)!, f.bytes]));
  }
  for (const a of manifest.artifacts) {
    const bytes = out.get(a.path)!;
    expect(bytes.length).toBe(a.size);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(a.sha256);
  }
  return out;
}

describe('qubes.DetBuild', () => {
  it('round trip: sources in, artifacts out, hashes verified, identical across two calls', async () => {
    const req = await requestBytes({ command: BUILD }, { sourceDir: src });
    const results = [];
    for (let i = 0; i < 2; i++) {
      const r = await runService(qrexec.bus, 'build', req);
      expect(r.code, r.stderr).toBe(0);
      const frames = await decodeResponse(r.stdout);
      expect(types(frames)).toEqual(['event', 'manifest', 'record', 'artifact', 'data', 'artifact', 'data', 'artifact', 'data', 'status']);
      expect(finalStatusOf(frames)).toMatchObject({ status: 'success', ok: true, exitCode: 0 });
      expect(frames.some((f) => f.type === 'event' && (f.json as { line?: string }).line === 'built')).toBe(true);
      results.push({ artifacts: artifactsOf(frames), record: frames.find((f) => f.type === 'record')!.json as { sha256: string; build: unknown } });
    }
    expect(results[0]!.artifacts.get('copy.txt')!.toString()).toBe('input\n');
    expect([...results[0]!.artifacts.keys()]).toEqual(['copy.txt', 'random', 'sub/when']);
    expect(results[1]!.artifacts).toEqual(results[0]!.artifacts);
    expect(results[1]!.record.sha256).toBe(results[0]!.record.sha256);
    expect(results[0]!.record.build).toMatchObject({ mode: 'deterministic', command: BUILD, timeStepNs: '1000000000' });
  });

  it('builds when called with no argument at all (plain qubes.DetBuild)', async () => {
    const r = await runService(qrexec.bus, undefined, await requestBytes({ command: 'mkdir -p $DETBUILD_OUT && echo x > $DETBUILD_OUT/x' }, { sourceDir: src }));
    expect(r.code, r.stderr).toBe(0);
    expect(finalStatusOf(await decodeResponse(r.stdout)).status).toBe('success');
  });

  it('+info returns the environment record without building', async () => {
    const r = await runService(qrexec.bus, 'info', null);
    expect(r.code, r.stderr).toBe(0);
    const frames = await decodeResponse(r.stdout);
    expect(types(frames)).toEqual(['record', 'status']);
    const rec = frames[0]!.json as { environment: { packages: unknown[]; packageManager: string }; build: unknown; sha256: string };
    expect(rec.environment.packageManager).toBe('dpkg');
    expect(rec.environment.packages.length).toBeGreaterThan(50);
    expect(rec.build).toBeNull();
    expect(rec.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each(['shell', 'build2', 'BUILD', '../build', 'verify extra'])('refuses the unknown argument %j with a clear error', async (arg) => {
    const r = await runService(qrexec.bus, arg, Buffer.from('ignored'));
    expect(r.code).toBe(ExitCode.rejected);
    const frames = await decodeResponse(r.stdout);
    expect(types(frames)).toEqual(['status']);
    expect(finalStatusOf(frames)).toMatchObject({ status: 'rejected', ok: false, exitCode: ExitCode.rejected });
    expect(finalStatusOf(frames).message).toMatch(/unknown mode/);
    expect(r.stderr).toMatch(/qubes\.DetBuild: unknown mode/);
  });

  it('reports a failing build as failed, with the live log, the record and no artifacts', async () => {
    const r = await runService(qrexec.bus, 'build', await requestBytes({ command: 'echo about to fail; exit 3' }, { sourceDir: src }));
    expect(r.code).toBe(ExitCode.failed);
    const frames = await decodeResponse(r.stdout);
    expect(frames.some((f) => (f.json as { line?: string } | null)?.line === 'about to fail')).toBe(true);
    expect(types(frames).slice(-2)).toEqual(['record', 'status']);
    expect(finalStatusOf(frames)).toMatchObject({ status: 'failed', exitCode: ExitCode.failed });
    expect(finalStatusOf(frames).message).toMatch(/exited with status 3/);
  });

  it('+verify: two builds under different conditions, identical, artifacts returned', async () => {
    const r = await runService(qrexec.bus, 'verify', await requestBytes({ command: BUILD }, { sourceDir: src }));
    expect(r.code, r.stderr).toBe(0);
    const frames = await decodeResponse(r.stdout);
    const report = frames.find((f) => f.type === 'verify')!.json as { identical: boolean; conditions: Array<Record<string, string>>; differences: unknown[] };
    expect(report.identical).toBe(true);
    expect(report.differences).toEqual([]);
    expect(report.conditions[0]!.sourceDir).not.toBe(report.conditions[1]!.sourceDir);
    expect(report.conditions[0]!.umask).not.toBe(report.conditions[1]!.umask);
    const runs = new Set(frames.filter((f) => f.type === 'event').map((f) => (f.json as { run?: string }).run));
    expect(runs).toEqual(new Set(['a', 'b', undefined]));
    expect(artifactsOf(frames).get('copy.txt')!.toString()).toBe('input\n');
  });

  it('+verify reports a build that is not reproducible, with what differs', async () => {
    const r = await runService(qrexec.bus, 'verify', await requestBytes({ command: 'mkdir -p $DETBUILD_OUT && date +%s%N > $DETBUILD_OUT/stamp && echo same > $DETBUILD_OUT/same', mode: 'plain' }, { sourceDir: src }));
    expect(r.code).toBe(ExitCode['not-reproducible']);
    const frames = await decodeResponse(r.stdout);
    const report = frames.find((f) => f.type === 'verify')!.json as { identical: boolean; differences: Array<{ path: string }>; diffoscope: string | null };
    expect(report.identical).toBe(false);
    expect(report.differences.map((d) => d.path)).toEqual(['stamp']);
    // diffoscope's report when it is installed (.ci/packages.txt installs diffoscope-minimal)
    if (existsSync('/usr/bin/diffoscope')) expect(report.diffoscope).toMatch(/stamp/);
    else expect(report.diffoscope).toBeNull();
    expect(frames.some((f) => f.type === 'artifact')).toBe(false);
    expect(finalStatusOf(frames).message).toMatch(/differ in 1 artifact\(s\): stamp/);
  });
});

describe('qubes.DetBuild run by hand', () => {
  it('with stdout to a regular file: a clear error, and the daemon keeps serving', async () => {
    const dir = await tempDir('file-out');
    const outFile = path.join(dir, 'response');
    const fd = openSync(outFile, 'w');
    const env = serviceEnv(qrexec.bus, 'build');
    const child = spawn(serviceScript, ['build'], { env, stdio: ['pipe', fd, 'pipe'] });
    closeSync(fd);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin!.end(await requestBytes({ command: 'true' }, { sourceDir: src }));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(ExitCode.error);
    expect(stderr).toMatch(/cannot hand the streams to the build daemon: .*pipes or sockets/);
    expect(finalStatusOf(await decodeResponse(readFileSync(outFile))).status).toBe('error');
    await rm(dir, { recursive: true, force: true });
    const r = await runService(qrexec.bus, 'build', await requestBytes({ command: 'mkdir -p $DETBUILD_OUT && echo x > $DETBUILD_OUT/x' }, { sourceDir: src }));
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('qubes.DetBuild without its daemon', () => {
  it('answers with a clear error and a non-zero status', async () => {
    const lonely = await startBus();
    try {
      const r = await runService(lonely, 'build', Buffer.from('whatever'));
      expect(r.code).toBe(ExitCode.error);
      const st = finalStatusOf(await decodeResponse(r.stdout));
      expect(st).toMatchObject({ status: 'error', ok: false });
      expect(st.message).toMatch(/not reachable.*detbuildd/);
      expect(r.stderr).toMatch(/not reachable/);
    } finally {
      await lonely.stop();
    }
  });
});
