/**
 * The rpm recipe through qrexec: the real service and detbuildd, requests
 * `{kind: 'rpm', srpm}` (a .src.rpm made here from the RPM probe) and
 * `{kind: 'rpm', spec}` (the probe's source tree with its .spec.in), and the
 * real CLI `detbuild remote --srpm / --spec` through the qrexec-client-vm
 * double. The daemon uses the same recipe modules as `detbuild rpm`; bad rpm
 * recipes and unmet BuildRequires are refused.
 */
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecipeSchema } from '../../src/protocol/messages.js';
import { ExitCode } from '../../src/protocol/status.js';
import { makeProbeSrpm, PROBE_NAME, PROBE_SPEC, probeTree } from '../recipes/rpm-probe.js';
import { decodeResponse, finalStatusOf, requestBytes, runService, tempDir, remoteCli, daemonForFile } from '../helpers/daemon.js';

const MiB = 1024 * 1024;
const qrexec = daemonForFile({
  defaultLimits: { timeoutMs: 120_000, maxOutputBytes: 256 * MiB, maxOutputFiles: 100, maxLogBytes: 4 * MiB },
  maxLimits: { timeoutMs: 300_000, maxOutputBytes: 512 * MiB, maxOutputFiles: 200, maxLogBytes: 8 * MiB },
});
let dir: string;
let srpmDir: string;
let depsDir: string;
let tree: string;
const SRPM = `${PROBE_NAME}-1.0-1.src.rpm`;

beforeAll(async () => {
  dir = await tempDir('rpm');
  // each request's sources: the .src.rpm alone at the top
  srpmDir = path.join(dir, 'srpm');
  await mkdir(srpmDir);
  await copyFile((await makeProbeSrpm(path.join(dir, 'make-ok'))).srpm, path.join(srpmDir, SRPM));
  depsDir = path.join(dir, 'deps');
  await mkdir(depsDir);
  await copyFile((await makeProbeSrpm(path.join(dir, 'make-deps'), { buildRequires: ['detbuild-no-such-package >= 2'] })).srpm, path.join(depsDir, SRPM));
  tree = await probeTree(path.join(dir, 'tree'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const EXPECTED = [`${PROBE_NAME}-1.0-1.noarch.rpm`, `${PROBE_NAME}-1.0-1.src.rpm`, `${PROBE_NAME}-1.0-1.x86_64.buildinfo`];

describe("qubes.DetBuild with an 'rpm' recipe", () => {
  it('rebuilds a .src.rpm and returns the .rpm, the .src.rpm and the .buildinfo', async () => {
    const r = await runService(qrexec.bus, 'build', await requestBytes({ kind: 'rpm', srpm: SRPM }, { sourceDir: srpmDir }));
    const frames = await decodeResponse(r.stdout);
    expect(finalStatusOf(frames), r.stderr).toMatchObject({ status: 'success', ok: true });
    const manifest = frames.find((f) => f.type === 'manifest')!.json as { artifacts: Array<{ path: string }>; command: string };
    expect(manifest.artifacts.map((a) => a.path).sort()).toEqual(EXPECTED);
    expect(manifest.command).toContain('rpmbuild -ra --nodeps');
  });

  it('makes the .src.rpm from a spec first, its log streamed, then rebuilds it', async () => {
    const r = await runService(qrexec.bus, 'build', await requestBytes({ kind: 'rpm', spec: PROBE_SPEC }, { sourceDir: tree }));
    const frames = await decodeResponse(r.stdout);
    expect(finalStatusOf(frames), r.stderr).toMatchObject({ status: 'success', ok: true });
    const manifest = frames.find((f) => f.type === 'manifest')!.json as { artifacts: Array<{ path: string }> };
    expect(manifest.artifacts.map((a) => a.path).sort()).toEqual(EXPECTED);
    const lines = frames.filter((f) => f.type === 'event').map((f) => (f.json as { line?: string }).line ?? '');
    expect(lines.some((l) => /making detbuild-rpm-probe-1\.0\.tar\.gz from the tree/.test(l))).toBe(true);
    expect(lines.some((l) => /^Wrote: .*SRPMS\/detbuild-rpm-probe-1\.0-1\.src\.rpm$/.test(l))).toBe(true);
  });

  it('unmet BuildRequires are refused, naming them', async () => {
    const r = await runService(qrexec.bus, 'build', await requestBytes({ kind: 'rpm', srpm: SRPM }, { sourceDir: depsDir }));
    expect(r.code).toBe(ExitCode.rejected);
    expect(finalStatusOf(await decodeResponse(r.stdout)).message).toMatch(/^request refused: .*unmet BuildRequires: detbuild-no-such-package >= 2/);
  });

  it.each([
    ['neither srpm nor spec', { kind: 'rpm' as const }, /either its \.src\.rpm .* or its spec/],
    ['both', { kind: 'rpm' as const, srpm: SRPM, spec: PROBE_SPEC }, /either its \.src\.rpm .* or its spec/],
    ['a command beside it', { kind: 'rpm' as const, srpm: SRPM, command: 'make' }, /no command/],
    ['srpm without kind', { srpm: SRPM }, /belong to an 'rpm' recipe/],
    ['a .src.rpm that is not there', { kind: 'rpm' as const, srpm: 'other-1-1.src.rpm' }, /cannot read the \.src\.rpm/],
  ])('a bad rpm recipe is refused: %s', async (_what, recipe, message) => {
    const r = await runService(qrexec.bus, 'build', await requestBytes(recipe, { sourceDir: srpmDir }));
    expect(r.code).toBe(ExitCode.rejected);
    expect(finalStatusOf(await decodeResponse(r.stdout)).message).toMatch(message);
  });

  it('a spec path that leaves the sources, or a file name that is not a .src.rpm, does not pass the schema', () => {
    for (const spec of ['../x.spec', '/etc/x.spec', 'a/../../x.spec', 'rpm_spec/.x.spec', 'x.spec.sh']) {
      expect(RecipeSchema.safeParse({ kind: 'rpm', spec }).success, spec).toBe(false);
    }
    for (const srpm of ['../x-1-1.src.rpm', 'x-1-1.rpm', '-x-1-1.src.rpm']) expect(RecipeSchema.safeParse({ kind: 'rpm', srpm }).success, srpm).toBe(false);
    expect(RecipeSchema.safeParse({ kind: 'rpm', spec: PROBE_SPEC }).success).toBe(true);
  });
});

function detbuild(args: string[]) {
  return remoteCli(qrexec.bus, args);
}

describe('detbuild remote --srpm / --spec', () => {
  it('--srpm: the packages come back', async () => {
    const out = path.join(dir, 'o-srpm');
    const r = await detbuild(['remote', srpmDir, '--srpm', SRPM, '--out', out, '--quiet']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await readdir(path.join(out, 'artifacts'))).sort()).toEqual(EXPECTED);
  });

  it('--spec --verify: built twice in the builder under other conditions, identical', async () => {
    const out = path.join(dir, 'o-spec');
    const r = await detbuild(['remote', tree, '--spec', PROBE_SPEC, '--verify', '--out', out, '--quiet']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await readdir(path.join(out, 'artifacts'))).sort()).toEqual(EXPECTED);
  });

  it('refuses --srpm with --spec or --command, and --nocheck alone (usage, exit 2)', async () => {
    expect((await detbuild(['remote', tree, '--srpm', SRPM, '--spec', PROBE_SPEC, '--out', path.join(dir, 'u1')])).exitCode).toBe(2);
    expect((await detbuild(['remote', tree, '--srpm', SRPM, '--command', 'make', '--out', path.join(dir, 'u2')])).exitCode).toBe(2);
    expect((await detbuild(['remote', tree, '--nocheck', '--out', path.join(dir, 'u3')])).exitCode).toBe(2);
  });
});
