/**
 * `detbuild remote` end to end: the real CLI, a test double of qrexec-client-vm on PATH
 * (test/client/bin) that runs the local qubes.DetBuild as qrexec would, the real daemon.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/protocol/status.js';
import { sourceTree, tempDir, remoteCli, daemonForFile } from '../helpers/daemon.js';

const qrexec = daemonForFile();
let src: string;
let outRoot: string;
beforeAll(async () => {
  src = await sourceTree({ 'payload.txt': 'CORRUPTME and more\n', 'detbuild.json': '{"command": "mkdir -p $DETBUILD_OUT/bin && cp payload.txt $DETBUILD_OUT/ && printf \'#!/bin/sh\\\\necho hi\\\\n\' > $DETBUILD_OUT/bin/tool && chmod +x $DETBUILD_OUT/bin/tool && ln -s bin/tool $DETBUILD_OUT/link && date > $DETBUILD_OUT/date && echo done"}\n' });
  outRoot = await tempDir('out');
});
afterAll(async () => {
  for (const d of [src, outRoot]) if (d) await rm(d, { recursive: true, force: true });
});

function detbuild(args: string[], env: Record<string, string> = {}) {
  return remoteCli(qrexec.bus, args, env);
}

let n = 0;
const out = () => path.join(outRoot, `out${++n}`);
const sha = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');

describe('detbuild remote', () => {
  it('builds in the builder: artifacts checked and kept, with manifest, log, record, .buildinfo and provenance; identical twice', async () => {
    const results = [];
    for (const target of ['builder', '@dispvm:detbuild-dvm']) {
      const o = out();
      const r = await detbuild(['remote', src, '--target', target, '--out', o]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(await readdir(o)).toEqual(['artifacts', 'build.log', 'environment.buildinfo', 'manifest.json', 'provenance.intoto.json', 'record.json']);
      const manifest = JSON.parse(await readFile(path.join(o, 'manifest.json'), 'utf8')) as { artifacts: Array<{ path: string; sha256: string }> };
      expect(manifest.artifacts.map((a) => a.path)).toEqual(['bin/tool', 'date', 'link', 'payload.txt']);
      for (const a of manifest.artifacts.filter((x) => x.path !== 'link')) {
        expect(await sha(path.join(o, 'artifacts', a.path))).toBe(a.sha256);
        expect(r.stdout).toContain(`${a.sha256}  ${a.path}`);
      }
      expect(await readFile(path.join(o, 'artifacts', 'payload.txt'), 'utf8')).toBe('CORRUPTME and more\n');
      expect(existsSync(path.join(o, 'artifacts', 'link'))).toBe(true);
      expect((await import('node:fs')).statSync(path.join(o, 'artifacts', 'bin/tool')).mode & 0o111).not.toBe(0);
      expect(await readFile(path.join(o, 'build.log'), 'utf8')).toContain('done\n');
      expect(await readFile(path.join(o, 'environment.buildinfo'), 'utf8')).toMatch(/^Installed-Build-Depends:$/m);
      expect(r.stderr).toMatch(/\d\d:\d\d:\d\d \[run\] running: /);
      expect(r.stderr).toMatch(/│ done/);
      results.push({ manifest, record: JSON.parse(await readFile(path.join(o, 'record.json'), 'utf8')) as { sha256: string } });
    }
    expect(results[1]!.manifest).toEqual(results[0]!.manifest);
    expect(results[1]!.record.sha256).toBe(results[0]!.record.sha256);
  });

  it('--json prints the result summary', async () => {
    const r = await detbuild(['remote', src, '--target', 'builder', '--out', out(), '--json', '--command', 'mkdir -p $DETBUILD_OUT && echo x > $DETBUILD_OUT/x']);
    expect(r.exitCode, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({ status: 'success', ok: true, exitCode: 0, target: 'builder', mode: 'build', artifacts: [{ path: 'x', size: 2 }] });
    expect((s.record as { sha256: string }).sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('--verify keeps the artifacts only when both builds are identical', async () => {
    const o = out();
    const ok = await detbuild(['remote', src, '--target', 'builder', '--out', o, '--verify']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(JSON.parse(await readFile(path.join(o, 'verify.json'), 'utf8'))).toMatchObject({ identical: true });
    const o2 = out();
    const bad = await detbuild(['remote', src, '--target', 'builder', '--out', o2, '--verify', '--plain', '--command', 'mkdir -p $DETBUILD_OUT && date +%s%N > $DETBUILD_OUT/t']);
    expect(bad.exitCode).toBe(ExitCode['not-reproducible']);
    expect(existsSync(o2)).toBe(false);
    expect(JSON.parse(await readFile(`${o2}.verify.json`, 'utf8'))).toMatchObject({ identical: false, differences: [{ path: 't' }] });
    expect(bad.stderr).toMatch(/not-reproducible: the two builds differ/);
  });

  it('a failed build: exit status 4, no OUT_DIR, the log kept beside it', async () => {
    const o = out();
    const r = await detbuild(['remote', src, '--target', 'builder', '--out', o, '--command', 'echo nope; exit 2']);
    expect(r.exitCode).toBe(ExitCode.failed);
    expect(existsSync(o)).toBe(false);
    expect(await readFile(`${o}.failed.log`, 'utf8')).toContain('nope');
    expect(r.stderr).toMatch(/detbuild remote: failed: the build command exited with status 2 \(log: /);
  });

  it('refused by policy: qrexec 126 becomes its own exit status', async () => {
    const r = await detbuild(['remote', src, '--target', 'denied', '--out', out()]);
    expect(r.exitCode).toBe(ExitCode['policy-denied']);
    expect(r.stderr).toMatch(/policy-denied: qrexec refused the call to qubes\.DetBuild\+build in denied/);
    const m = await detbuild(['remote', src, '--target', 'missing', '--out', out()]);
    expect(m.exitCode).toBe(ExitCode['policy-denied']);
    expect(m.stderr).toMatch(/has no qubes\.DetBuild service/);
  });

  it('a broken stream is a transport error, and nothing is kept', async () => {
    for (const cut of ['5', '300', '2000']) {
      const o = out();
      const r = await detbuild(['remote', src, '--target', 'truncate', '--out', o], { DETBUILD_TEST_CUT: cut });
      expect(r.exitCode, r.stderr).toBe(ExitCode['transport-error']);
      expect(r.stderr).toMatch(/transport-error: no complete response from truncate/);
      expect(existsSync(o)).toBe(false);
    }
  });

  it('an artifact altered on the way fails verification and is not kept', async () => {
    const o = out();
    const r = await detbuild(['remote', src, '--target', 'corrupt', '--out', o]);
    expect(r.exitCode).toBe(ExitCode['integrity-error']);
    expect(r.stderr).toMatch(/integrity-error: artifact payload\.txt does not match the sha256 of its manifest/);
    expect(existsSync(o)).toBe(false);
    expect((await readdir(outRoot)).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  it('refuses a non-empty OUT_DIR and bad flags as usage errors', async () => {
    const r = await detbuild(['remote', src, '--target', 'builder', '--out', outRoot]);
    expect(r.exitCode).toBe(ExitCode.usage);
    expect((await detbuild(['remote', src, '--target', 'builder'])).exitCode).toBe(ExitCode.usage);
    expect((await detbuild(['remote', src, '--out', out(), '--seed', 'XYZ'])).exitCode).toBe(ExitCode.usage);
  });

  it('info --target prints the builder environment record', async () => {
    const r = await detbuild(['info', '--target', 'builder', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { status: string; environment: { environment: { packageManager: string }; build: unknown } };
    expect(s.status).toBe('success');
    expect(s.environment.environment.packageManager).toBe('dpkg');
    expect(s.environment.build).toBeNull();
    const text = await detbuild(['remote', '--info', '--target', 'builder']);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^Format: 1\.0$/m);
  });
});
