/**
 * `detbuild remote SRC_DIR --dsc NAME.dsc`: a Debian source package sent to the
 * builder and built there by the dpkg recipe (real CLI, the qrexec-client-vm
 * double of test/client/bin, the real service and daemon).
 */
import { execFile } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distDir, serviceScript, startBus, startDaemon, tempDir, type Bus, type Daemon } from '../helpers/daemon.js';
import { repoRoot } from '../helpers/trees.js';
import { makeProbePackage } from '../recipes/probe-package.js';

let bus: Bus;
let daemon: Daemon;
let src: string;
let outRoot: string;
beforeAll(async () => {
  bus = await startBus();
  daemon = await startDaemon(bus);
  src = await tempDir('dsc');
  await makeProbePackage(src);
  await rm(path.join(src, 'detbuild-probe-1.0'), { recursive: true });
  outRoot = await tempDir('out');
});
afterAll(async () => {
  await daemon?.stop();
  await bus?.stop();
  for (const d of [src, outRoot]) if (d) await rm(d, { recursive: true, force: true });
});

function detbuild(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(distDir(), 'cli', 'main.js'), ...args],
      {
        env: {
          ...process.env,
          PATH: `${path.join(repoRoot, 'test', 'client', 'bin')}:${process.env.PATH}`,
          DETBUILD_SERVICE: serviceScript,
          DETBUILD_DIST: distDir(),
          DETBUILD_NODE: process.execPath,
          DETBUILD_DBUS_ADDRESS: bus.address,
        },
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('detbuild remote --dsc', () => {
  it('builds the source package in the builder and keeps the .deb, .buildinfo and .changes', async () => {
    const out = path.join(outRoot, 'o1');
    const r = await detbuild(['remote', src, '--dsc', 'detbuild-probe_1.0.dsc', '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(path.join(out, 'artifacts'))).sort()).toEqual([
      'detbuild-probe_1.0_all.deb',
      'detbuild-probe_1.0_amd64.buildinfo',
      'detbuild-probe_1.0_amd64.changes',
    ]);
  });

  it('refuses --dsc with --command, and --nocheck without --dsc', async () => {
    expect((await detbuild(['remote', src, '--dsc', 'x.dsc', '--command', 'make', '--out', path.join(outRoot, 'o2')])).code).toBe(2);
    expect((await detbuild(['remote', src, '--nocheck', '--out', path.join(outRoot, 'o3')])).code).toBe(2);
  });

  it('a .dsc that is not among the sources is refused by the builder (exit 3)', async () => {
    const r = await detbuild(['remote', src, '--dsc', 'other_1.0.dsc', '--out', path.join(outRoot, 'o4'), '--quiet']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot read the \.dsc/);
  });
});
