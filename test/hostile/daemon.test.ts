/**
 * Hostile builds through the service and the daemon (the real detbuildd on a private bus):
 * host secrets when the daemon runs as root, workspaces a build makes hard to remove, an
 * artifact name the wire cannot carry, an archive entry of an unknown type, and the modes
 * of artifacts fetched with `detbuild remote` (the same rule as a local build).
 */
import { chmod, lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/protocol/status.js';
import { decodeResponse, finalStatusOf, remoteCli, requestBytes, runService, sourceTree, startBus, startDaemon, tempDir, type Bus, type Daemon } from '../helpers/daemon.js';
import { tarStream } from '../daemon/hostile.js';
import { rawTar } from './raw-tar.js';

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;
let bus: Bus;
let daemon: Daemon;
let src: string;
let daemonTmp: string;
let outRoot: string;

beforeAll(async () => {
  bus = await startBus();
  // the daemon's own TMPDIR, where the engine makes its workspaces: checked empty after each build
  daemonTmp = await mkdtemp(path.join(tmpdir(), 'detbuild-hostile-daemon-tmp-'));
  // searchable by the unprivileged build user (else the engine falls back to /tmp)
  await chmod(daemonTmp, 0o755);
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = daemonTmp;
  try {
    daemon = await startDaemon(bus, {
      defaultLimits: { timeoutMs: 30_000, maxOutputBytes: 256 * MiB, maxOutputFiles: 100, maxLogBytes: 1 * MiB },
      maxLimits: { timeoutMs: 60_000, maxOutputBytes: 256 * MiB, maxOutputFiles: 100, maxLogBytes: 1 * MiB },
    });
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  src = await sourceTree({ 'in.txt': 'input\n' });
  outRoot = await tempDir('hostile-out');
});
afterAll(async () => {
  await daemon?.stop();
  await bus?.stop();
  for (const d of [src, daemonTmp, outRoot]) if (d) await rm(d, { recursive: true, force: true });
});

async function build(command: string) {
  const r = await runService(bus, 'build', await requestBytes({ command }, { sourceDir: src }));
  const frames = await decodeResponse(r.stdout);
  return { r, frames, status: finalStatusOf(frames), data: frames.filter((f) => f.type === 'data').map((f) => f.bytes.toString()).join('') };
}

async function expectNoWorkspaceLeft(): Promise<void> {
  expect((await readdir(daemonTmp)).filter((n) => n.startsWith('detbuild-ws-'))).toEqual([]);
  expect(await readdir(daemon.workDir)).toEqual([]);
}

describe('the daemon run as root: a build never has root\'s access to the host', () => {
  it('cat /etc/shadow > $DETBUILD_OUT/shadow fails, and nothing of it comes back', async () => {
    if (!isRoot) return console.info('skipped: needs root');
    const { r, status, data } = await build('cat /etc/shadow > $DETBUILD_OUT/shadow');
    expect(r.code).toBe(ExitCode.failed);
    expect(status.status).toBe('failed');
    expect(data).not.toMatch(/^root:/m);
    expect(r.stdout.toString('latin1')).toMatch(/Permission denied/);
    await expectNoWorkspaceLeft();
  });
});

describe('workspaces are removed whatever the build left in them', () => {
  const HARD = [
    'cd /build/home && python3 -c "',
    'import os',
    'for _ in range(300):',
    '    os.mkdir(16 * \\"d\\"); os.chdir(16 * \\"d\\")',
    '"',
    'mkdir -p /build/src/ro/sub $DETBUILD_OUT/ro && touch /build/src/ro/sub/f $DETBUILD_OUT/ro/f',
    'chmod 500 /build/src/ro /build/src/ro/sub',
  ].join('\n');
  it.each([
    ['the build succeeding', 'echo x > $DETBUILD_OUT/x', 'success'],
    ['the build failing', 'chmod 500 $DETBUILD_OUT/ro; exit 3', 'failed'],
  ])('%s', async (_what, tail, expected) => {
    const { status } = await build(`${HARD}\n${tail}`);
    expect(status.status, status.message).toBe(expected);
    await expectNoWorkspaceLeft();
    expect(daemon.logs.join('\n')).not.toMatch(/cannot remove/);
  });
});

describe('what the build writes is the build\'s fault, what the caller sends the caller\'s', () => {
  it('an artifact named a\\nb: the build failed (its output), not "request refused"', async () => {
    const { r, status } = await build(`printf x > "$DETBUILD_OUT/$(printf 'a\\nb')"`);
    expect(status.status).toBe('failed');
    expect(r.code).toBe(ExitCode.failed);
    expect(status.message).not.toMatch(/request refused/);
    expect(status.message).toMatch(/output cannot be published.*"a\\nb".*control character/);
    await expectNoWorkspaceLeft();
  });

  it('an archive entry of an unknown type: refused, and the daemon serves on', async () => {
    const tar = rawTar([{ name: 'in.txt', type: '0', body: 'input\n' }, { name: 'zed', type: 'Z', body: 'x' }]);
    const r = await runService(bus, 'build', await requestBytes({ command: 'true' }, { tarStream: tarStream(tar) }));
    expect(r.code).toBe(ExitCode.rejected);
    expect(finalStatusOf(await decodeResponse(r.stdout)).message).toMatch(/request refused: .*unknown type/);
    const ok = await build('echo ok > $DETBUILD_OUT/ok');
    expect(ok.status.status).toBe('success');
    await expectNoWorkspaceLeft();
  });
});

describe('artifact modes over the wire follow the same rule as a local build', () => {
  const MAKE = [
    'mkdir -m 777 $DETBUILD_OUT/d',
    'echo s > $DETBUILD_OUT/d/suid && chmod 6755 $DETBUILD_OUT/d/suid',
    'echo p > $DETBUILD_OUT/private && chmod 600 $DETBUILD_OUT/private',
    'echo w > $DETBUILD_OUT/world && chmod 777 $DETBUILD_OUT/world',
  ].join(' && ');

  function detbuild(args: string[]) {
    return remoteCli(bus, args, { umask: '077' });
  }

  async function modes(dir: string): Promise<Record<string, string>> {
    const m: Record<string, string> = {};
    for (const p of ['d', 'd/suid', 'private', 'world']) m[p] = ((await lstat(path.join(dir, 'artifacts', p))).mode & 0o7777).toString(8);
    return m;
  }

  it('remote and local, under umask 077', async () => {
    const remote = path.join(outRoot, 'remote');
    const local = path.join(outRoot, 'local');
    const r = await detbuild(['remote', src, '--target', 'builder', '--out', remote, '--quiet', '--command', MAKE]);
    expect(r.exitCode, r.stderr).toBe(0);
    const l = await detbuild(['build', src, '--out', local, '--quiet', '--command', MAKE]);
    expect(l.exitCode, l.stderr).toBe(0);
    const expected = { d: '755', 'd/suid': '755', private: '644', world: '755' };
    expect(await modes(remote)).toEqual(expected);
    expect(await modes(local)).toEqual(expected);
  });
});
