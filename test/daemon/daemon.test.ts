/**
 * detbuildd for real (private dbus-daemon, the real policy file, the real service in front):
 * hostile requests refused and the daemon still serving, builds killed on crash, hang and
 * output flood, FIFO order with separate results, busctl status, policy, journal tags.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readlink, rm } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/protocol/constants.js';
import { ExitCode } from '../../src/protocol/status.js';
import { encodeFrame, encodeJsonFrame, encodeStreamHeader } from '../../src/protocol/writer.js';
import { decodeResponse, finalStatusOf, requestBytes, runService, sourceTree, type ServiceRun, daemonForFile } from '../helpers/daemon.js';
import { HOSTILE, tarBytes, tarStream } from './hostile.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

const qrexec = daemonForFile({
  maxRequestBytes: 1 * MiB,
  maxRequestFiles: 50,
  requestIdleTimeoutMs: 2000,
  attachTimeoutMs: 10_000,
  // (the engine needs maxOutputBytes above ~135 MB for now: its clock table file counts against RLIMIT_FSIZE)
  defaultLimits: { timeoutMs: 30_000, maxOutputBytes: 256 * MiB, maxOutputFiles: 100, maxLogBytes: 1 * MiB },
  maxLimits: { timeoutMs: 120_000, maxOutputBytes: 512 * MiB, maxOutputFiles: 200, maxLogBytes: 2 * MiB },
});
let src: string;
beforeAll(async () => {
  src = await sourceTree({ 'in.txt': 'input\n' });
});
afterAll(async () => {
  if (src) await rm(src, { recursive: true, force: true });
});

const OK_BUILD = 'mkdir -p $DETBUILD_OUT && cat in.txt > $DETBUILD_OUT/out.txt';

async function status(r: ServiceRun) {
  return finalStatusOf(await decodeResponse(r.stdout));
}

/** After each refusal: nothing left in the daemon's work directory, nothing outside it, still serving. */
async function expectCleanAndServing(): Promise<void> {
  expect(existsSync('/tmp/detbuild-escaped')).toBe(false);
  expect(existsSync('/tmp/escaped')).toBe(false);
  expect(await readdir(qrexec.daemon.workDir)).toEqual([]);
  const r = await runService(qrexec.bus, 'build', await requestBytes({ command: OK_BUILD }, { sourceDir: src }));
  expect(r.code, r.stderr).toBe(0);
}

async function busctl(...args: string[]): Promise<string> {
  const { stdout } = await run('busctl', [`--address=${qrexec.bus.address}`, ...args]);
  return stdout;
}

describe('hostile requests are refused with a clear error, and the daemon keeps serving', () => {
  it.each(HOSTILE)('$what', async ({ entries, message }) => {
    const req = await requestBytes({ command: OK_BUILD }, { tarStream: tarStream(await tarBytes(entries)) });
    const r = await runService(qrexec.bus, 'build', req);
    expect(r.code).toBe(ExitCode.rejected);
    const st = await status(r);
    expect(st).toMatchObject({ status: 'rejected', ok: false });
    expect(st.message).toMatch(/^request refused: /);
    expect(st.message).toMatch(message);
    await expectCleanAndServing();
  });

  const header = encodeStreamHeader('request');
  it.each([
    ['an empty request', () => Promise.resolve(Buffer.alloc(0)), /empty/],
    ['something that is not a request', () => Promise.resolve(Buffer.from('GET / HTTP/1.0\r\n\r\n')), /bad magic/],
    ['malformed recipe JSON', () => Promise.resolve(Buffer.concat([header, encodeFrame(FrameType.recipe, Buffer.from('{"command": "make",'))])), /malformed JSON/],
    ['an unknown recipe field', () => Promise.resolve(Buffer.concat([header, encodeJsonFrame(FrameType.recipe, { command: 'make', privileged: true })])), /unknown field 'privileged'/],
    ['sources before the recipe', () => Promise.resolve(Buffer.concat([header, encodeFrame(FrameType.sourceChunk, Buffer.alloc(512))])), /must start with its recipe/],
    ['a truncated stream', async () => {
      const full = await requestBytes({ command: OK_BUILD }, { sourceDir: src });
      return full.subarray(0, full.length - 40);
    }, /truncated/],
    ['an oversized request', async () => requestBytes({ command: OK_BUILD }, { tarStream: tarStream(await tarBytes([{ name: 'big', content: Buffer.alloc(2 * MiB, 1) }])) }), /exceed 1048576 bytes/],
    ['too many files', async () => requestBytes({ command: OK_BUILD }, { tarStream: tarStream(await tarBytes(Array.from({ length: 60 }, (_, i) => ({ name: `f${i}`, content: 'x' })))) }), /more than 50 entries/],
    ['limits above the builder\'s maximum', async () => requestBytes({ command: OK_BUILD, limits: { timeoutMs: 10_000_000 } }, { sourceDir: src }), /exceeds this builder's maximum/],
    ['a variable the engine fixes', async () => requestBytes({ command: OK_BUILD, env: { SOURCE_DATE_EPOCH: '1' } }, { sourceDir: src }), /fixed by the engine/],
  ])('%s', async (_what, make, message) => {
    const r = await runService(qrexec.bus, 'build', await make());
    expect(r.code, r.stderr).toBe(ExitCode.rejected);
    const st = await status(r);
    expect(st.status).toBe('rejected');
    expect(st.message).toMatch(message);
    await expectCleanAndServing();
  });

  it('a client killed mid-transfer does not wedge the daemon', async () => {
    const full = await requestBytes({ command: OK_BUILD }, { tarStream: tarStream(await tarBytes([{ name: 'big', content: Buffer.alloc(600_000, 2) }])) });
    // half the request, then the caller's side goes away (EOF without the end frame)
    const gone = new PassThrough();
    gone.write(full.subarray(0, full.length / 2));
    setTimeout(() => gone.end(), 300);
    const r1 = await runService(qrexec.bus, 'build', gone);
    expect(await status(r1)).toMatchObject({ status: 'rejected' });
    expect((await status(r1)).message).toMatch(/truncated/);
    // half the request, then silence with the stream left open, and the service killed
    const stalled = new PassThrough();
    stalled.write(full.subarray(0, full.length / 2));
    const started = Date.now();
    const r2 = await runService(qrexec.bus, 'build', stalled, { killAfterMs: 500 });
    expect(r2.signal).toBe('SIGKILL');
    stalled.destroy();
    expect(Date.now() - started).toBeLessThan(15_000);
    // the front sees the service's D-Bus name go and cancels; give the worker a moment to clean up
    for (let i = 0; i < 50 && (await readdir(qrexec.daemon.workDir)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    await expectCleanAndServing();
    expect(qrexec.daemon.logs.join('\n')).toMatch(/stalled|went away|truncated/);
  });
});

describe('builds that go wrong are killed and reported; the daemon keeps serving', () => {
  it('a build that crashes', async () => {
    const r = await runService(qrexec.bus, 'build', await requestBytes({ command: 'echo crashing; kill -SEGV $$' }, { sourceDir: src }));
    expect(r.code).toBe(ExitCode.failed);
    expect((await status(r)).message).toMatch(/SIGSEGV|signal|status/);
    await expectCleanAndServing();
  });

  it('a build that hangs past its time limit is killed with its whole process tree', async () => {
    // blocked for good (a timed wait such as sleep ends in logical time once nothing else runs)
    const r = await runService(qrexec.bus, 'build', await requestBytes({ command: 'mkfifo hang1001 hang1002; (cat hang1001 &) ; cat hang1002', limits: { timeoutMs: 1500 } }, { sourceDir: src }));
    expect(r.code).toBe(ExitCode.timeout);
    const st = await status(r);
    expect(st).toMatchObject({ status: 'timeout' });
    expect(st.message).toMatch(/time limit/);
    await expect(run('pgrep', ['-f', 'cat hang100[12]'])).rejects.toMatchObject({ code: 1 });
    await expectCleanAndServing();
  });

  it('a build that writes gigabytes is stopped at its output limit', async () => {
    const r = await runService(qrexec.bus, 'build', await requestBytes({ command: 'mkdir -p $DETBUILD_OUT && head -c 3G /dev/zero > $DETBUILD_OUT/big' }, { sourceDir: src }));
    expect(r.code).toBe(ExitCode['output-limit']);
    expect((await status(r)).status).toBe('output-limit');
    await expectCleanAndServing();
  });

  it('a build that floods its log: the live log is cut at its limit, the response stays small', async () => {
    const r = await runService(qrexec.bus, 'build', await requestBytes({ command: 'mkdir -p $DETBUILD_OUT; yes "log line" | head -c 200M; echo ok > $DETBUILD_OUT/x' }, { sourceDir: src }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeLessThan(4 * MiB);
    const frames = await decodeResponse(r.stdout);
    expect(frames.some((f) => /live log truncated/.test((f.json as { line?: string } | null)?.line ?? ''))).toBe(true);
  });

  it('a build sees none of the daemon\'s descriptors (no D-Bus socket, no caller stream)', async () => {
    const r = await runService(qrexec.bus, 'build', await requestBytes({ command: 'mkdir -p $DETBUILD_OUT && ls -l /proc/self/fd/ > $DETBUILD_OUT/fds' }, { sourceDir: src }));
    expect(r.code, r.stderr).toBe(0);
    const frames = await decodeResponse(r.stdout);
    const listing = frames.filter((f) => f.type === 'data').map((f) => f.bytes.toString()).join('');
    const fds = [...listing.matchAll(/ (\d+) -> (.*)$/gm)].map((m) => ({ fd: Number(m[1]), to: m[2]! }));
    expect(fds.length).toBeGreaterThan(3);
    // 0-2 are the engine's; ls has its /proc directory open (through the supervisor's /proc
    // view, the real one at /run/detbuild/proc); anything else must come from outside the
    // daemon (descriptors this test process itself inherited)
    const ours = new Set(await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => ''))));
    const stray = fds.filter((f) => f.fd > 2 && !/^\/(run\/detbuild\/)?proc\//.test(f.to) && !ours.has(f.to));
    expect(stray).toEqual([]);
  });
});

describe('queue', () => {
  it('four concurrent callers each get exactly their own result, first come first served', async () => {
    const calls = await Promise.all(
      [0, 1, 2, 3].map(async (i) => {
        const s = await sourceTree({ 'id.txt': `caller ${i}\n` });
        const req = await requestBytes({ command: 'mkdir -p $DETBUILD_OUT && sleep 0.3 && cat id.txt > $DETBUILD_OUT/who' }, { sourceDir: s });
        return { i, s, req };
      }),
    );
    const results = await Promise.all(calls.map(({ i, req }) => runService(qrexec.bus, 'build', req, { caller: `work${i}` }).then((r) => ({ i, r }))));
    let queued = 0;
    for (const { i, r } of results) {
      expect(r.code, r.stderr).toBe(0);
      const frames = await decodeResponse(r.stdout);
      if (frames.some((f) => f.type === 'queued')) queued++;
      const who = frames.filter((f) => f.type === 'data').map((f) => f.bytes.toString()).join('');
      expect(who).toBe(`caller ${i}\n`);
    }
    expect(queued).toBeGreaterThanOrEqual(2);
    for (const c of calls) await rm(c.s, { recursive: true, force: true });
    // the journal lines of each build name it and its caller
    for (const i of [0, 1, 2, 3]) expect(qrexec.daemon.logs.some((l) => new RegExp(`build=b[0-9a-f]+ caller=work${i} .*finished: success`).test(l))).toBe(true);
  });

  it('busctl lists the running and queued builds and their status', async () => {
    const slow = runService(qrexec.bus, 'build', await requestBytes({ command: 'sleep 2; mkdir -p $DETBUILD_OUT; echo x > $DETBUILD_OUT/x' }, { sourceDir: src }), { caller: 'slowqube' });
    let listing = '';
    for (let i = 0; i < 40 && !/slowqube.*running/.test(listing); i++) {
      await new Promise((r) => setTimeout(r, 100));
      listing = await busctl('call', 'org.qubes.DetBuild1', '/org/qubes/DetBuild1', 'org.qubes.DetBuild1.Builder', 'List');
    }
    expect(listing).toMatch(/"slowqube" "build" "running"/);
    expect(await busctl('get-property', 'org.qubes.DetBuild1', '/org/qubes/DetBuild1', 'org.qubes.DetBuild1.Builder', 'Running')).toMatch(/^s "b[0-9a-f]+"/);
    const introspect = await busctl('introspect', 'org.qubes.DetBuild1', '/org/qubes/DetBuild1', 'org.qubes.DetBuild1.Builder');
    expect(introspect).toMatch(/\.Submit\s+method\s+ss\s+su/);
    expect(introspect).toMatch(/\.Attach\s+method\s+shh/);
    expect(introspect).toMatch(/\.Finished\s+signal\s+ssu/);
    expect((await slow).code).toBe(0);
    const after = await busctl('call', 'org.qubes.DetBuild1', '/org/qubes/DetBuild1', 'org.qubes.DetBuild1.Builder', 'List');
    expect(after).toMatch(/"slowqube" "build" "done" "success"/);
  });

  it('the D-Bus policy lets no other user talk to the daemon', async () => {
    const asNobody = run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'busctl', `--address=${qrexec.bus.address}`, 'call', 'org.qubes.DetBuild1', '/org/qubes/DetBuild1', 'org.qubes.DetBuild1.Builder', 'List']);
    await expect(asNobody).rejects.toMatchObject({ stderr: expect.stringMatching(/Access denied|AccessDenied/) });
    const own = run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'busctl', `--address=${qrexec.bus.address}`, 'call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'RequestName', 'su', 'org.qubes.DetBuild1', '4']);
    await expect(own).rejects.toMatchObject({ stderr: expect.stringMatching(/not allowed|Access denied|AccessDenied/) });
  });
});
