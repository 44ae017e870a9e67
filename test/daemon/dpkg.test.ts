/**
 * The dpkg recipe through qrexec: the real service and detbuildd, a request
 * carrying a Debian source package (the probe package made with dpkg-source
 * -b) and `{kind: 'dpkg', dsc}`. The daemon uses the same recipe module as
 * `detbuild deb`; bad dpkg recipes and unmet build dependencies are refused.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/protocol/status.js';
import { makeProbePackage } from '../recipes/probe-package.js';
import { decodeResponse, finalStatusOf, requestBytes, runService, tempDir, daemonForFile } from '../helpers/daemon.js';

const MiB = 1024 * 1024;
const qrexec = daemonForFile({
  defaultLimits: { timeoutMs: 120_000, maxOutputBytes: 256 * MiB, maxOutputFiles: 100, maxLogBytes: 4 * MiB },
  maxLimits: { timeoutMs: 300_000, maxOutputBytes: 512 * MiB, maxOutputFiles: 200, maxLogBytes: 8 * MiB },
});
let dir: string;

beforeAll(async () => {
  dir = await tempDir('dpkg');
  await mkdir(path.join(dir, 'ok'));
  await makeProbePackage(path.join(dir, 'ok'));
  await rm(path.join(dir, 'ok', 'detbuild-probe-1.0'), { recursive: true });
  await mkdir(path.join(dir, 'deps'));
  await makeProbePackage(path.join(dir, 'deps'), { buildDepends: 'detbuild-no-such-package' });
  await rm(path.join(dir, 'deps', 'detbuild-probe-1.0'), { recursive: true });
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("qubes.DetBuild with a 'dpkg' recipe", () => {
  it('builds the source package and returns the .deb, .buildinfo and .changes', async () => {
    const r = await runService(qrexec.bus, 'build', await requestBytes({ kind: 'dpkg', dsc: 'detbuild-probe_1.0.dsc' }, { sourceDir: path.join(dir, 'ok') }));
    const frames = await decodeResponse(r.stdout);
    expect(finalStatusOf(frames), r.stderr).toMatchObject({ status: 'success', ok: true });
    const manifest = frames.find((f) => f.type === 'manifest')!.json as { artifacts: Array<{ path: string }>; command: string };
    expect(manifest.artifacts.map((a) => a.path).sort()).toEqual(['detbuild-probe_1.0_all.deb', 'detbuild-probe_1.0_amd64.buildinfo', 'detbuild-probe_1.0_amd64.changes']);
    expect(manifest.command).toContain('dpkg-buildpackage');
  });

  it('unmet build dependencies are refused, naming them', async () => {
    const r = await runService(qrexec.bus, 'build', await requestBytes({ kind: 'dpkg', dsc: 'detbuild-probe_1.0.dsc' }, { sourceDir: path.join(dir, 'deps') }));
    expect(r.code).toBe(ExitCode.rejected);
    const st = finalStatusOf(await decodeResponse(r.stdout));
    expect(st.message).toMatch(/^request refused: .*missing build dependencies: detbuild-no-such-package/);
  });

  it.each([
    ['no dsc', { kind: 'dpkg' as const }, /names its \.dsc/],
    ['a dsc that is not there', { kind: 'dpkg' as const, dsc: 'other_1.0.dsc' }, /cannot read the \.dsc/],
    ['a command beside it', { kind: 'dpkg' as const, dsc: 'detbuild-probe_1.0.dsc', command: 'make' }, /no command/],
    ['dsc without kind', { dsc: 'detbuild-probe_1.0.dsc' }, /belong to a 'dpkg' recipe/],
  ])('a bad dpkg recipe is refused: %s', async (_what, recipe, message) => {
    const r = await runService(qrexec.bus, 'build', await requestBytes(recipe, { sourceDir: path.join(dir, 'ok') }));
    expect(r.code).toBe(ExitCode.rejected);
    expect(finalStatusOf(await decodeResponse(r.stdout)).message).toMatch(message);
  });
});
