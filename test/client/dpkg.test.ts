/**
 * `detbuild remote SRC_DIR --dsc NAME.dsc`: a Debian source package sent to the
 * builder and built there by the dpkg recipe (real CLI, the qrexec-client-vm
 * double of test/client/bin, the real service and daemon).
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, remoteCli, daemonForFile } from '../helpers/daemon.js';
import { makeProbePackage } from '../recipes/probe-package.js';

const qrexec = daemonForFile();
let src: string;
let outRoot: string;
beforeAll(async () => {
  src = await tempDir('dsc');
  await makeProbePackage(src);
  await rm(path.join(src, 'detbuild-probe-1.0'), { recursive: true });
  outRoot = await tempDir('out');
});
afterAll(async () => {
  for (const d of [src, outRoot]) if (d) await rm(d, { recursive: true, force: true });
});

function detbuild(args: string[]) {
  return remoteCli(qrexec.bus, args);
}

describe('detbuild remote --dsc', () => {
  it('builds the source package in the builder and keeps the .deb, .buildinfo and .changes', async () => {
    const out = path.join(outRoot, 'o1');
    const r = await detbuild(['remote', src, '--dsc', 'detbuild-probe_1.0.dsc', '--out', out, '--quiet']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await readdir(path.join(out, 'artifacts'))).sort()).toEqual([
      'detbuild-probe_1.0_all.deb',
      'detbuild-probe_1.0_amd64.buildinfo',
      'detbuild-probe_1.0_amd64.changes',
    ]);
  });

  it('--with-source: the .changes and .buildinfo list the source package as sent; --require-environment names the builder it accepts', async () => {
    const info = await detbuild(['info', '--target', 'builder', '--json']);
    const environmentSha256 = (JSON.parse(info.stdout) as { environment: { environmentSha256: string } }).environment.environmentSha256;
    const out = path.join(outRoot, 'o5');
    const r = await detbuild(['remote', src, '--dsc', 'detbuild-probe_1.0.dsc', '--with-source', '--require-environment', environmentSha256, '--out', out, '--quiet']);
    expect(r.exitCode, r.stderr).toBe(0);
    const changes = await readFile(path.join(out, 'artifacts', 'detbuild-probe_1.0_amd64.changes'), 'utf8');
    expect(changes).toMatch(/^Architecture: source all$/m);
    const dscSha = createHash('sha256').update(await readFile(path.join(src, 'detbuild-probe_1.0.dsc'))).digest('hex');
    expect(changes).toContain(`${dscSha} `);
    for (const f of (await readdir(src)).filter((n) => n !== 'detbuild-probe_1.0.dsc')) expect(changes, f).toContain(f);
    expect(await readFile(path.join(out, 'artifacts', 'detbuild-probe_1.0_amd64.buildinfo'), 'utf8')).toContain(`${dscSha} `);
    // the package itself is the same as in the binary-only build
    const first = path.join(outRoot, 'o1', 'artifacts', 'detbuild-probe_1.0_all.deb');
    expect(await readFile(path.join(out, 'artifacts', 'detbuild-probe_1.0_all.deb'))).toEqual(await readFile(first));

    const other = `${environmentSha256.slice(0, 63)}${environmentSha256.endsWith('0') ? '1' : '0'}`;
    const refused = await detbuild(['remote', src, '--dsc', 'detbuild-probe_1.0.dsc', '--require-environment', other, '--out', path.join(outRoot, 'o6'), '--quiet']);
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toContain(`this builder's environment is ${environmentSha256}, the request requires ${other}`);
  });

  it('refuses --dsc with --command, and --nocheck without --dsc', async () => {
    expect((await detbuild(['remote', src, '--dsc', 'x.dsc', '--command', 'make', '--out', path.join(outRoot, 'o2')])).exitCode).toBe(2);
    expect((await detbuild(['remote', src, '--nocheck', '--out', path.join(outRoot, 'o3')])).exitCode).toBe(2);
  });

  it('a .dsc that is not among the sources is refused by the builder (exit 3)', async () => {
    const r = await detbuild(['remote', src, '--dsc', 'other_1.0.dsc', '--out', path.join(outRoot, 'o4'), '--quiet']);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/cannot read the \.dsc/);
  });
});
