/**
 * Rebuilds across the qrexec boundary, with the real daemon behind the qrexec double:
 * what a builder qube built is rebuilt here, what was built here is rebuilt in a builder
 * qube; a builder whose environment is not the recorded one refuses before building.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { ExitCode } from '../../src/protocol/status.js';
import { clientEnv, daemonForFile } from '../helpers/daemon.js';
import { ELSEWHERE, runCli as detbuild, type CliConditions } from '../helpers/cli.js';
import { freshDir } from '../helpers/trees.js';

const qrexec = daemonForFile();
let root: string;
let src: string;

const through = (c: CliConditions = {}): CliConditions => ({ ...c, env: { ...c.env, ...clientEnv(qrexec.bus) } });

beforeAll(async () => {
  root = await freshDir('rebuild-remote');
  src = path.join(root, 'src');
  await mkdir(src);
  await writeFile(path.join(src, 'detbuild.json'), JSON.stringify({ command: 'mkdir -p $DETBUILD_OUT && date > $DETBUILD_OUT/date && head -c 32 /dev/urandom | sha256sum > $DETBUILD_OUT/random && uname -a > $DETBUILD_OUT/uname' }));
}, 120_000);
afterAll(async () => {
  if (root && !process.env.DETBUILD_TEST_KEEP) await rm(root, { recursive: true, force: true });
});

describe('rebuilds across qrexec', () => {
  it('built in a builder qube, rebuilt here: GOOD', async () => {
    const pub = path.join(root, 'built-remote');
    const b = await detbuild(['remote', src, '--target', 'builder', '--out', pub, '--quiet'], through());
    expect(b.exitCode, b.stderr).toBe(0);
    const r = await detbuild(['rebuild', pub, '--sources', src, '--out', path.join(root, 'rebuilt-here'), '--quiet'], ELSEWHERE);
    expect(r.exitCode, r.stdout + r.stderr).toBe(EXIT.ok);
    expect(r.stdout).toBe("GOOD: all 3 artifacts are identical to the statement's");
  });

  it('built here, rebuilt in a builder qube (--target): GOOD, the builder named', async () => {
    const pub = path.join(root, 'built-here');
    expect((await detbuild(['build', src, '--out', pub, '--quiet'], { cpu: 0 })).exitCode).toBe(0);
    const out = path.join(root, 'rebuilt-remote');
    const r = await detbuild(['rebuild', path.join(pub, 'provenance.intoto.json'), '--sources', src, '--out', out, '--target', 'builder'], through(ELSEWHERE));
    expect(r.exitCode, r.stdout + r.stderr).toBe(EXIT.ok);
    expect(r.stderr).toMatch(/\[environment\] comparing the environment of qube builder with the recorded one/);
    expect(r.stderr).toMatch(/\[run\] running: mkdir -p/);
    const verdict = JSON.parse(await readFile(path.join(out, 'verdict.json'), 'utf8')) as { verdict: string; builder: string };
    expect(verdict).toMatchObject({ verdict: 'GOOD', builder: 'qube builder' });
  });

  it('a builder qube whose environment is not the recorded one refuses before building', async () => {
    const pub = path.join(root, 'built-here');
    const st = JSON.parse(await readFile(path.join(pub, 'provenance.intoto.json'), 'utf8')) as { predicate: { buildDefinition: { resolvedDependencies: Array<{ uri?: string }> } } };
    const dep = st.predicate.buildDefinition.resolvedDependencies.find((d) => d.uri?.includes('/bash@'))!;
    dep.uri = dep.uri!.replace(/@[^?]+/, '@9.9-older');
    const alt = path.join(root, 'other-env');
    await mkdir(alt);
    await writeFile(path.join(alt, 'statement.json'), JSON.stringify(st));
    const builds = qrexec.daemon.logs.filter((l) => /finished: /.test(l)).length;
    const r = await detbuild(['rebuild', path.join(alt, 'statement.json'), '--sources', src, '--out', path.join(root, 'refused-remote'), '--target', 'builder', '--quiet'], through());
    expect(r.exitCode).toBe(EXIT.rebuildUnverifiable);
    expect(r.stdout).toMatch(/^UNVERIFIABLE: refused: qube builder is not the recorded environment \(.*1 package differs: bash:amd64 9\.9-older recorded, \S+ here/);
    expect(qrexec.daemon.logs.filter((l) => /finished: /.test(l)).length).toBe(builds);
  });

  it('a target qrexec refuses: one line, the policy exit status', async () => {
    const out = path.join(root, 'denied');
    const r = await detbuild(['rebuild', path.join(root, 'built-here'), '--sources', src, '--out', out, '--target', 'denied', '--quiet'], through());
    expect(r.exitCode).toBe(ExitCode['policy-denied']);
    expect(r.stderr).toMatch(/^detbuild rebuild: cannot read the environment record of denied: policy-denied: qrexec refused the call[^\n]*$/);
    expect(existsSync(out)).toBe(false);
  });
});
