/**
 * qubes-builderv2's real `qb` (the unmodified snapshot in ../shared/upstream) with our
 * plugin (integrations/qubes-builderv2, found through `plugins-dirs`) on real Qubes
 * components: `qb package prep build` makes the source package with builderv2's own
 * prep stage (its `local` executor), and the plugin sends it through the detbuild
 * client and the qrexec-client-vm double (test/client/bin) into the real
 * qubes.DetBuild service, detbuildd and the engine. Fetch is skipped: the sources
 * are the snapshots, committed into local git repositories.
 *
 * The control is builderv2 with its `local` executor and plain dpkg tools
 * (test/integrations/qubes-builderv2/control-plugins): the same component, the same
 * conditions, no engine.
 */
import { execa } from 'execa';
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distDir, serviceScript, startBus, startDaemon, type Bus, type Daemon } from '../helpers/daemon.js';
import { conditionWrapper, startLoad, type Conditions } from '../helpers/conditions.js';
import { findPython } from '../helpers/python.js';
import { checkoutInOrder, removeUnlessKept, repoRoot, sha256File } from '../helpers/trees.js';
import { unpackUpstream, upstreamMissing } from '../helpers/upstream.js';

/** builderv2 component name -> snapshot repository */
const REPOS: Record<string, string> = {
  'gui-common': 'qubes-gui-common',
  'core-vchan-xen': 'qubes-core-vchan-xen',
  'core-qrexec': 'qubes-core-qrexec',
};
const DIST = 'vm-bookworm';
const PLUGINS_DIR = path.join(repoRoot, 'integrations', 'qubes-builderv2');
const CONTROL_PLUGINS_DIR = path.join(repoRoot, 'test', 'integrations', 'qubes-builderv2', 'control-plugins');

const python = findPython(3, 12);
const missing =
  ['qubes-builderv2', ...Object.values(REPOS)].map(upstreamMissing).find((m) => m !== null) ??
  (python ? null : 'skipped: no Python >= 3.12 on PATH or under pyenv (qubes-builderv2 needs it)');
if (missing) console.info(`qubes-builderv2 tests ${missing}`);

/** Run A: as the developer's shell is. */
const NORMAL: Conditions = { name: 'normal', cpu: 0, env: { TZ: 'UTC', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' } };
/** Run B: another CPU under load, another time zone, locale, umask, user, job counts, a later start. */
const OTHER: Conditions = {
  name: 'other',
  cpu: 1,
  loadWorkers: 1,
  umask: '077',
  env: { TZ: 'Pacific/Kiritimati', LANG: 'et_EE.UTF-8', LC_ALL: 'et_EE.UTF-8', USER: 'mallory', MAKEFLAGS: '-j8', DEB_BUILD_OPTIONS: 'parallel=4' },
};

let bus: Bus;
let daemon: Daemon;
let root: string;
let qbScript: string;

beforeAll(async () => {
  if (missing) return;
  qbScript = path.join(unpackUpstream('qubes-builderv2'), 'qb');
  bus = await startBus();
  daemon = await startDaemon(bus);
  // short: gpg-agent's sockets go into builderv2's keyring directory deep below it
  // (where /run/user/UID is absent), and a socket path has at most 107 bytes
  root = await mkdtemp(path.join(tmpdir(), 'qb-'));
});
afterAll(async () => {
  await daemon?.stop();
  await bus?.stop();
  if (root) await removeUnlessKept(root);
});

interface Workspace {
  dir: string;
  art: string;
  conf: string;
  components: string[];
}

type Mutate = (src: string) => Promise<void>;

/** A builderv2 workspace: its artifacts directory with the components' sources as local git repositories. */
async function workspace(name: string, components: Record<string, Mutate | null>, opts: { order?: 'forward' | 'reverse' } = {}): Promise<Workspace> {
  const dir = path.join(root, name);
  const art = path.join(dir, 'artifacts');
  await mkdir(path.join(art, 'sources'), { recursive: true });
  for (const [component, mutate] of Object.entries(components)) {
    const snapshot = unpackUpstream(REPOS[component]!);
    const src = path.join(art, 'sources', component);
    if (opts.order) {
      // a checkout of its own: fresh file times, another creation order
      await cp(await checkoutInOrder(snapshot, opts.order, path.join(dir, 'checkout')), src, { recursive: true });
    } else {
      await cp(snapshot, src, { recursive: true, preserveTimestamps: true });
    }
    if (mutate) await mutate(src);
    const git = (args: string[]) =>
      execa('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', ...args], {
        cwd: src,
        env: { GIT_AUTHOR_DATE: '2025-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2025-01-01T00:00:00Z' },
      });
    await git(['init', '-q']);
    await git(['add', '-A']);
    await git(['commit', '-q', '-m', 'snapshot']);
  }
  const ws = { dir, art, conf: path.join(dir, 'builder.yml'), components: Object.keys(components) };
  await configure(ws, {});
  return ws;
}

/** builder.yml (JSON is YAML) with our plugin, or the control plugin when `control` is set. */
async function configure(ws: Workspace, opts: { detbuild?: Record<string, unknown>; control?: boolean; extra?: Record<string, unknown> }): Promise<void> {
  const conf = {
    git: { baseurl: 'https://github.com', prefix: 'QubesOS/qubes-', branch: 'main' },
    'backend-vmm': 'xen',
    'qubes-release': 'r4.3',
    'artifacts-dir': ws.art,
    'skip-git-fetch': true,
    'skip-files-fetch': true,
    'insecure-skip-checking': ws.components,
    'self-upgrade': { 'check-for-updates': false },
    distributions: [DIST],
    components: ws.components,
    'plugins-dirs': [opts.control ? CONTROL_PLUGINS_DIR : PLUGINS_DIR],
    executor: { type: 'local' },
    stages: ['fetch', 'prep', 'build', 'verify'],
    ...(opts.control
      ? {}
      : { detbuild: { client: [process.execPath, path.join(distDir(), 'cli', 'main.js')], distributions: [DIST], ...opts.detbuild } }),
    ...opts.extra,
  };
  await writeFile(ws.conf, JSON.stringify(conf, null, 2));
}

interface QbRun {
  code: number;
  output: string;
  startedAt: number;
  endedAt: number;
}

/** `qb --builder-conf WS/builder.yml ARGS` under `cond`, with the qrexec double on PATH. */
async function qb(ws: Workspace, args: string[], cond: Conditions = NORMAL): Promise<QbRun> {
  const home = path.join(ws.dir, `home-${cond.name}`);
  await mkdir(home, { recursive: true });
  const argv = [...conditionWrapper(cond), python!, qbScript, '--builder-conf', ws.conf, ...args];
  const stopLoad = cond.loadWorkers ? startLoad(cond.loadWorkers) : async () => {};
  const startedAt = Date.now();
  try {
    const r = await execa(argv[0]!, argv.slice(1), {
      env: {
        HOME: home,
        PYTHONPATH: '/usr/lib/python3/dist-packages',
        PYTHONDONTWRITEBYTECODE: '1',
        PATH: `${path.join(repoRoot, 'test', 'client', 'bin')}:${process.env.PATH}`,
        DETBUILD_SERVICE: serviceScript,
        DETBUILD_DIST: distDir(),
        DETBUILD_NODE: process.execPath,
        DETBUILD_DBUS_ADDRESS: bus.address,
        ...cond.env,
      },
      all: true,
      reject: false,
      stdin: 'ignore',
      timeout: 10 * 60_000,
    });
    return { code: r.exitCode ?? -1, output: r.all ?? '', startedAt, endedAt: Date.now() };
  } finally {
    await stopLoad();
  }
}

/** The one line qb ends a failed stage with, without its colours. */
function errorLine(run: QbRun): string {
  const plain = run.output.replace(/\x1b\[[0-9;]*m/g, '');
  return plain.split('\n').find((l) => l.includes('An error occurred:')) ?? '';
}

function stageDir(ws: Workspace, component: string, stage: string): string {
  const versions = path.join(ws.art, 'components', component);
  return path.join(versions, onlyVersion(versions), DIST, stage);
}

function onlyVersion(dir: string): string {
  const v = readdirSync(dir);
  if (v.length !== 1) throw new Error(`${dir}: expected one version, found ${v.join(', ')}`);
  return v[0]!;
}

/** sha256 of every .deb, .buildinfo and .changes the build stage left, by name. */
async function buildOutputs(ws: Workspace, component: string): Promise<Record<string, string>> {
  const dir = stageDir(ws, component, 'build');
  const out: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) {
    if (/\.(deb|ddeb|udeb|buildinfo|changes)$/.test(f)) out[f] = await sha256File(path.join(dir, f));
  }
  return out;
}

function differing(a: Record<string, string>, b: Record<string, string>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const COMPONENTS = ['gui-common', 'core-vchan-xen'];

describe.skipIf(missing)('qubes-builderv2 qb with the detbuild plugin', () => {
  let wsA: Workspace;
  let wsB: Workspace;
  const engine: Record<string, { a: Record<string, string>; b: Record<string, string> }> = {};
  const seconds: Record<string, number> = {};
  let engineBuildinfoB = '';

  it('qb package prep build: every .deb, .buildinfo and .changes identical across two runs under different conditions', async () => {
    wsA = await workspace('a', { 'gui-common': null, 'core-vchan-xen': null });
    wsB = await workspace('run-b-with-another-path', { 'gui-common': null, 'core-vchan-xen': null }, { order: 'reverse' });
    const a = await qb(wsA, ['-c', 'gui-common', '-c', 'core-vchan-xen', 'package', 'prep', 'build']);
    expect(a.code, a.output).toBe(0);
    await sleep(2000);
    const b = await qb(wsB, ['-c', 'gui-common', '-c', 'core-vchan-xen', 'package', 'prep', 'build'], OTHER);
    expect(b.code, b.output).toBe(0);

    for (const c of COMPONENTS) {
      engine[c] = { a: await buildOutputs(wsA, c), b: await buildOutputs(wsB, c) };
      const debs = Object.keys(engine[c]!.a).filter((f) => f.endsWith('.deb'));
      expect(debs.length, c).toBeGreaterThan(0);
      expect(differing(engine[c]!.a, engine[c]!.b), `${c}: ${JSON.stringify(engine[c])}`).toEqual([]);
      // builderv2's own metadata, and the builder's record beside the packages
      const dir = stageDir(wsA, c, 'build');
      const info = await readFile(path.join(dir, 'debian.build.yml'), 'utf8');
      for (const key of ['changes:', 'buildinfo:', 'packages:', 'files:', 'source-hash:', 'environment-sha256:']) expect(info, c).toContain(key);
      for (const f of ['environment.buildinfo', 'provenance.intoto.json', 'record.json', 'build.log']) expect(existsSync(path.join(dir, 'debian.detbuild', f)), `${c} ${f}`).toBe(true);
      const changes = await readFile(path.join(dir, Object.keys(engine[c]!.a).find((f) => f.endsWith('.changes'))!), 'utf8');
      expect(changes, 'a full upload, as after a pbuilder build').toMatch(/^Architecture: source amd64$/m);
      expect(changes).toMatch(/\.dsc$/m);
    }
    seconds.engineA = (a.endedAt - a.startedAt) / 1000;
    seconds.engineB = (b.endedAt - b.startedAt) / 1000;
    const bi = Object.keys(engine['gui-common']!.b).find((f) => f.endsWith('.buildinfo'))!;
    engineBuildinfoB = await readFile(path.join(stageDir(wsB, 'gui-common', 'build'), bi), 'utf8');
    // predicted debug packages that were not built are allowed to be absent, as in builderv2's own deb build
    expect(a.output).toMatch(/libvchan-xen-dev-dbgsym_\S+ was not built \(allowed\)/);
    // the local repository other components build against, as builderv2's deb build leaves it
    expect((await readdir(path.join(wsA.art, 'repository', DIST))).sort()).toEqual(expect.arrayContaining([expect.stringMatching(/^core-vchan-xen_/), expect.stringMatching(/^gui-common_/)]));
    console.info(
      `engine, two runs (${b.startedAt - a.endedAt} ms apart, ${OTHER.name}: CPU 1 under load, umask 077, TZ/LANG/USER/MAKEFLAGS/DEB_BUILD_OPTIONS changed, another path and checkout): ` +
        COMPONENTS.map((c) => `${c} ${Object.keys(engine[c]!.a).length} files identical`).join(', '),
    );
  });

  it('verify: two more builds through qubes.DetBuild+verify agree with each other and with the build stage', async () => {
    const r = await qb(wsA, ['-c', 'gui-common', 'package', 'verify']);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/reproducible: two builds in @dispvm:detbuild-dvm and the build stage agree/);
    expect(await readFile(path.join(stageDir(wsA, 'gui-common', 'verify'), 'debian.verify.yml'), 'utf8')).toContain('identical: true');
  });

  it('verify fails with diffoscope\'s summary when the two builds differ (plain mode: the control without the engine)', async () => {
    await configure(wsA, { detbuild: { mode: 'plain' } });
    const r = await qb(wsA, ['-c', 'gui-common', 'package', 'verify']);
    await configure(wsA, {});
    expect(r.code).not.toBe(0);
    expect(errorLine(r)).toMatch(/gui-common:vm-debian-12\.amd64:debian: not reproducible: the two builds differ in \d+ artifact\(s\): .*buildinfo/);
    // diffoscope's report, its head under the error line as builderv2 shows additional information
    expect(r.output).toMatch(/Additional information from .*debian\.diffoscope\.txt line 1:/);
    expect(r.output).toMatch(/>>> .*Build-Date/);
    expect(r.output).not.toMatch(/Traceback/);
  });

  it("builderv2's own sign and publish stages take the plugin's results unchanged (debsign, reprepro)", async () => {
    const gnupg = path.join(wsA.dir, 'gnupg');
    await mkdir(gnupg, { mode: 0o700 });
    const env = { GNUPGHOME: gnupg };
    await execa('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', 'Test Signer <test@localhost>', 'ed25519', 'sign', 'never'], { env });
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec((await execa('gpg', ['--list-keys', '--with-colons'], { env })).stdout)![1]!;
    await configure(wsA, { extra: { 'sign-key': { deb: fpr }, 'gpg-client': 'gpg', 'repository-publish': { components: 'current-testing' } } });
    const r = await qb(wsA, ['-c', 'gui-common', 'package', 'sign', 'publish'], { ...NORMAL, env: { ...NORMAL.env, ...env } });
    await configure(wsA, {});
    expect(r.code, r.output).toBe(0);
    const build = stageDir(wsA, 'gui-common', 'build');
    const changes = Object.keys(engine['gui-common']!.a).find((f) => f.endsWith('.changes'))!;
    await execa('gpg', ['--verify', path.join(build, changes)], { env });
    const pool = path.join(wsA.art, 'repository-publish', 'deb', 'r4.3', 'vm', 'pool', 'main', 'q', 'qubes-gui-common');
    const published = (await readdir(pool)).sort();
    expect(published).toEqual(expect.arrayContaining([expect.stringMatching(/\.dsc$/), expect.stringMatching(/_amd64\.deb$/)]));
    const deb = published.find((f) => f.endsWith('.deb'))!;
    expect(await sha256File(path.join(pool, deb))).toBe(engine['gui-common']!.a[deb]);
    // signing rewrote the .changes in the stage directory, not the builder's verified copy
    const manifest = JSON.parse(await readFile(path.join(build, 'debian.detbuild', 'manifest.json'), 'utf8')) as { artifacts: Array<{ path: string; sha256: string }> };
    expect(await sha256File(path.join(build, 'debian.detbuild', 'artifacts', changes))).toBe(manifest.artifacts.find((x) => x.path === changes)!.sha256);
  });

  it('copy-out: a predicted package the builder did not return ends the stage with a clear error', async () => {
    const prep = path.join(stageDir(wsB, 'gui-common', 'prep'), 'debian.prep.yml');
    const saved = await readFile(prep, 'utf8');
    await writeFile(prep, saved.replace(/^packages:\n/m, 'packages:\n- qubes-gui-common-extra_4.3.1+deb12u1_amd64.deb\n'));
    await rm(stageDir(wsB, 'gui-common', 'build'), { recursive: true });
    const r = await qb(wsB, ['-c', 'gui-common', 'package', 'build']);
    await writeFile(prep, saved);
    expect(r.code).not.toBe(0);
    expect(errorLine(r)).toMatch(/gui-common:vm-debian-12\.amd64:debian: the builder did not return qubes-gui-common-extra_4\.3\.1\+deb12u1_amd64\.deb \(it returned: .*qubes-gui-common_4\.3\.1\+deb12u1_amd64\.deb/);
  });

  it('control: builderv2 with its local executor and plain dpkg-buildpackage, same conditions', async () => {
    await configure(wsA, { control: true });
    await configure(wsB, { control: true });
    // one component: the control only has to show what differs plainly (CI time)
    const a = await qb(wsA, ['-c', 'gui-common', 'package', 'build']);
    expect(a.code, a.output).toBe(0);
    await sleep(2000);
    const b = await qb(wsB, ['-c', 'gui-common', 'package', 'build'], OTHER);
    expect(b.code, b.output).toBe(0);
    const report: string[] = [];
    let differs = 0;
    for (const c of ['gui-common']) {
      const plain = { a: await buildOutputs(wsA, c), b: await buildOutputs(wsB, c) };
      const d = differing(plain.a, plain.b);
      differs += d.length;
      report.push(`${c}: plain ${d.length} of ${Object.keys(plain.a).length} differ (${d.join(', ') || 'none'}), engine 0 of ${Object.keys(engine[c]!.a).length}`);
    }
    seconds.plainA = (a.endedAt - a.startedAt) / 1000;
    seconds.plainB = (b.endedAt - b.startedAt) / 1000;
    report.push(`qb package build, seconds (engine: both components, prep included; plain: gui-common, prep cached): engine A ${seconds.engineA} B ${seconds.engineB} (prep included), plain A ${seconds.plainA} B ${seconds.plainB} (prep cached)`);
    const fieldsA = await readFile(path.join(stageDir(wsA, 'gui-common', 'build'), Object.keys(await buildOutputs(wsA, 'gui-common')).find((f) => f.endsWith('.buildinfo'))!), 'utf8');
    const fieldsB = await readFile(path.join(stageDir(wsB, 'gui-common', 'build'), Object.keys(await buildOutputs(wsB, 'gui-common')).find((f) => f.endsWith('.buildinfo'))!), 'utf8');
    const lines = (t: string) => new Set(t.split('\n'));
    const onlyA = [...lines(fieldsA)].filter((l) => !lines(fieldsB).has(l) && /^(Build-|\s\w+=)/.test(l));
    report.push(`gui-common .buildinfo plainly, run A only: ${onlyA.join(' | ')}`);
    console.info(report.join('\n'));
    expect(differs, report.join('\n')).toBeGreaterThan(0);
    // the caller's environment reaches a plain build's record, never the engine's
    expect(fieldsB).toMatch(/LANG="et_EE\.UTF-8"/);
    expect(fieldsB).toMatch(/DEB_BUILD_OPTIONS="parallel=4"/);
    expect(engineBuildinfoB).not.toMatch(/et_EE|parallel=4|Kiritimati|mallory/);
  });
});

/** Runs a Python script with builderv2's package importable; its stdout. */
async function builderv2Python(script: string, args: string[]): Promise<string> {
  const r = await execa(python!, ['-c', script, ...args], {
    cwd: path.dirname(qbScript),
    env: { PYTHONPATH: `${path.dirname(qbScript)}:/usr/lib/python3/dist-packages`, PYTHONDONTWRITEBYTECODE: '1', PATH: process.env.PATH ?? '/usr/bin:/bin' },
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`python failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout;
}

describe.skipIf(missing)('docs/QUBES-BUILDER.md: its builder.yml', () => {
  it("loads in builderv2, and its job factory picks the plugin exactly for the listed distributions' stages", async () => {
    const doc = await readFile(path.join(repoRoot, 'docs', 'QUBES-BUILDER.md'), 'utf8');
    const yaml = /## builder\.yml[\s\S]*?```yaml\n([\s\S]*?)```/.exec(doc)![1]!;
    const ws = await workspace('doc-example', { 'gui-common': null, 'core-vchan-xen': null });
    const conf = path.join(ws.dir, 'example.yml');
    await writeFile(conf, yaml);
    const script = [
      'import json, sys',
      'from qubesbuilder.config import Config',
      'from qubesbuilder.jobs import JobFactory',
      'from qubesbuilder.plugins import JobReference',
      "config = Config(sys.argv[1], options={'artifacts-dir': sys.argv[2], 'plugins-dirs': [sys.argv[3]], 'components': ['gui-common', 'core-vchan-xen']})",
      'factory = JobFactory(config)',
      'picked = {}',
      'for dist in config.get_distributions():',
      "    for stage in ('init-cache', 'prep', 'build', 'verify', 'sign', 'publish'):",
      "        comp = None if stage == 'init-cache' else config.get_components(['gui-common'])[0]",
      '        job = factory.instantiate(JobReference(comp, dist, None, None, stage, None))',
      "        picked[f'{dist.distribution} {stage}'] = type(job).__name__ if job else None",
      "print(json.dumps({'picked': picked, 'target': config.get('detbuild')['distributions']['vm-trixie']['target']}))",
    ].join('\n');
    const out = JSON.parse(await builderv2Python(script, [conf, ws.art, PLUGINS_DIR])) as { picked: Record<string, string | null>; target: string };
    expect(out.target).toBe('@dispvm:detbuild-dvm-trixie');
    for (const d of ['vm-bookworm', 'vm-trixie']) {
      expect(out.picked[`${d} init-cache`]).toBe('DetBuildDEBCachePlugin');
      expect(out.picked[`${d} prep`]).toBe('DEBSourcePlugin');
      expect(out.picked[`${d} build`]).toBe('DetBuildDEBBuildPlugin');
      expect(out.picked[`${d} verify`]).toBe('DetBuildVerifyPlugin');
      expect(out.picked[`${d} sign`]).toBe('DEBSignPlugin');
      expect(out.picked[`${d} publish`]).toBe('DEBPublishPlugin');
    }
    for (const d of ['vm-fc42', 'host-fc41']) {
      expect(out.picked[`${d} init-cache`]).toBe('RPMChrootPlugin');
      expect(out.picked[`${d} build`]).toBe('RPMBuildPlugin');
      expect(out.picked[`${d} verify`]).toBeNull();
    }
  });
});

describe.skipIf(missing)('qubes-builderv2: an rpm distribution selected for qubes.DetBuild', () => {
  const RPM_DIST = 'host-fc41';
  let ws: Workspace;
  let hasRecipe = false;
  beforeAll(async () => {
    if (missing) return;
    ws = await workspace('rpm', { 'gui-common': null });
    const conf = JSON.parse(await readFile(ws.conf, 'utf8')) as Record<string, unknown> & { detbuild: Record<string, unknown> };
    conf.distributions = [RPM_DIST];
    conf.detbuild.distributions = [RPM_DIST];
    await writeFile(ws.conf, JSON.stringify(conf));
    const help = (await execa(process.execPath, [path.join(distDir(), 'cli', 'main.js'), 'remote', '--help'], { reject: false })).stdout;
    hasRecipe = help.includes('--srpm');
  });

  it('is built by the plugin, never by mock (a client without the RPM recipe: a clear error)', async () => {
    // builderv2's own job factory picks the plugin for the build stage
    const script = [
      'import sys',
      'from qubesbuilder.config import Config',
      'from qubesbuilder.jobs import JobFactory',
      'from qubesbuilder.plugins import JobReference, PluginError',
      'config = Config(sys.argv[1])',
      "component, dist = config.get_components(['gui-common'])[0], config.get_distributions()[0]",
      "job = JobFactory(config).instantiate(JobReference(component, dist, None, None, 'build', None))",
      'print(type(job).__name__)',
      'try:',
      '    job.run()',
      '    print("ran")',
      'except PluginError as e:',
      '    print(type(e).__name__, e)',
    ].join('\n');
    const [cls, outcome] = (await builderv2Python(script, [ws.conf])).trim().split('\n').slice(-2);
    expect(cls).toBe('DetBuildRPMBuildPlugin');
    if (hasRecipe) {
      // the recipe is there: without the prep stage's .src.rpm the stage says what is missing
      expect(outcome).toMatch(/^BuildError gui-common:host-fedora-41\.x86_64:rpm_spec\/gui-common\.spec: cannot find the SRPM\. Missing 'prep' stage call\?/);
    } else {
      expect(outcome).toMatch(/^BuildError gui-common:host-fedora-41\.x86_64: the qubes-detbuild client '.*' has no RPM recipe \(detbuild remote --srpm\); .*remove host-fc41 from detbuild:distributions/);
    }
  });

  it("with the RPM recipe: the prep stage's .src.rpm goes to qubes.DetBuild; RPMs from a Debian builder are refused for fc41", async (ctx) => {
    if (!hasRecipe) ctx.skip();
    // builderv2's rpm prep runs mock (absent here): its result is stood in for by a
    // .src.rpm that detbuild rpm --spec makes from the same tree, recorded as prep records it
    const src = path.join(ws.art, 'sources', 'gui-common');
    const made = path.join(ws.dir, 'srpm');
    const r0 = await execa(process.execPath, [path.join(distDir(), 'cli', 'main.js'), 'rpm', '--spec', 'rpm_spec/gui-common.spec.in', src, '--out', made, '--quiet'], { reject: false });
    expect(r0.exitCode, r0.stderr).toBe(0);
    const produced = await readdir(path.join(made, 'artifacts'));
    const srpm = produced.find((f) => f.endsWith('.src.rpm'))!;
    const rpms = produced.filter((f) => f.endsWith('.rpm') && !f.endsWith('.src.rpm'));
    const facts = JSON.parse(
      await builderv2Python(
        [
          'import json, sys',
          'from qubesbuilder.config import Config',
          'config = Config(sys.argv[1])',
          "c, d = config.get_components(['gui-common'])[0], config.get_distributions()[0]",
          "print(json.dumps({'vr': c.get_version_release(), 'hash': c.get_source_hash(), 'nva': d.nva}))",
        ].join('\n'),
        [ws.conf],
      ),
    ) as { vr: string; hash: string; nva: string };
    const prep = path.join(ws.art, 'components', 'gui-common', facts.vr, RPM_DIST, 'prep');
    await mkdir(prep, { recursive: true });
    await cp(path.join(made, 'artifacts', srpm), path.join(prep, srpm));
    const info = { srpm, rpms, files: [srpm], 'source-hash': facts.hash };
    await writeFile(path.join(prep, 'rpm_spec_gui-common.spec.prep.yml'), JSON.stringify(info));
    const cache = path.join(ws.art, 'cache', 'chroot', RPM_DIST, facts.nva);
    await mkdir(cache, { recursive: true });
    await writeFile(path.join(cache, `${facts.nva}.init-cache.yml`), JSON.stringify({ packages: [], 'install-packages': false }));

    const r = await qb(ws, ['-c', 'gui-common', 'package', 'build']);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/gui-common:host-fedora-41\.x86_64: building in @dispvm:detbuild-dvm through qubes\.DetBuild/);
    expect(errorLine(r)).toMatch(
      /gui-common:host-fedora-41\.x86_64:rpm_spec\/gui-common\.spec: the builder in @dispvm:detbuild-dvm runs Debian GNU\/Linux 12 \(bookworm\), not fedora 41; give host-fc41 a builder of its own/,
    );
    // what the RPM recipe returned, kept in the stage's result directory
    const returned = await readdir(path.join(ws.art, 'components', 'gui-common', facts.vr, RPM_DIST, 'build', 'rpm_spec_gui-common.spec.detbuild', 'artifacts'));
    expect(returned).toEqual(expect.arrayContaining([...rpms, srpm.replace('.src.rpm', '.x86_64.buildinfo')]));
  });
});

describe.skipIf(missing)('qubes-builderv2 stage errors through the plugin', () => {
  let ws: Workspace;
  beforeAll(async () => {
    if (missing) return;
    ws = await workspace('errors', {
      'core-vchan-xen': async (src) => {
        // a compile error, as a broken change to a component gives
        const c = (await readdir(path.join(src, 'vchan'))).find((f) => f.endsWith('.c'))!;
        await writeFile(path.join(src, 'vchan', c), `${await readFile(path.join(src, 'vchan', c), 'utf8')}\n#error broken by the test\n`);
      },
      'core-qrexec': null,
    });
  });

  it('a refused policy ends the build stage with the qrexec refusal in one line', async () => {
    await configure(ws, { detbuild: { target: 'denied' } });
    const r = await qb(ws, ['-c', 'core-vchan-xen', 'package', 'prep', 'build']);
    await configure(ws, {});
    expect(r.code).not.toBe(0);
    expect(errorLine(r)).toMatch(
      /core-vchan-xen:vm-debian-12\.amd64:debian: qubes\.DetBuild in denied \(policy-denied\): qrexec refused the call to qubes\.DetBuild\+build in denied \(dom0 policy\).*tag it detbuild-client/,
    );
    expect(r.output).not.toMatch(/Traceback/);
  });

  it('an unmet build dependency in the builder ends the build stage naming it', async () => {
    const r = await qb(ws, ['-c', 'core-qrexec', 'package', 'prep', 'build']);
    expect(r.code).not.toBe(0);
    expect(errorLine(r)).toMatch(/core-qrexec:vm-debian-12\.amd64:debian: qubes\.DetBuild in @dispvm:detbuild-dvm \(rejected\): this builder cannot build it: qubes-core-qrexec: missing build dependencies: .*libvchan-xen-dev.* \(install them in the builder/);
    expect(r.output).not.toMatch(/Traceback/);
  });

  it('a build failure ends the build stage with the lines before dpkg-buildpackage\'s error', async () => {
    const r = await qb(ws, ['-c', 'core-vchan-xen', 'package', 'build']);
    expect(r.code).not.toBe(0);
    expect(errorLine(r)).toMatch(/core-vchan-xen:vm-debian-12\.amd64:debian: qubes\.DetBuild in @dispvm:detbuild-dvm \(failed\): the build command exited with status \d+$/);
    expect(r.output).toMatch(/Additional information from .*debian\.detbuild\.failed\.log/);
    expect(r.output).toMatch(/>>> .*#error broken by the test/);
    expect(r.output).not.toMatch(/Traceback/);
  });

  it('a broken transport (the response cut short) ends the build stage as a transport error', async () => {
    await configure(ws, { detbuild: { target: 'truncate' } });
    const r = await qb(ws, ['-c', 'core-vchan-xen', 'package', 'build']);
    await configure(ws, {});
    expect(r.code).not.toBe(0);
    expect(errorLine(r)).toMatch(/core-vchan-xen:vm-debian-12\.amd64:debian: qubes\.DetBuild in truncate \(transport-error\): no complete response from truncate: /);
    expect(r.output).not.toMatch(/Traceback/);
  });

  it('a client that is not installed ends the build stage saying so', async () => {
    await configure(ws, { detbuild: { client: '/nonexistent/bin/detbuild' } });
    const r = await qb(ws, ['-c', 'core-vchan-xen', 'package', 'build']);
    await configure(ws, {});
    expect(r.code).not.toBe(0);
    expect(errorLine(r)).toContain(
      "core-vchan-xen:vm-debian-12.amd64:debian: qubes.DetBuild in @dispvm:detbuild-dvm (client-error): cannot run the qubes-detbuild client '/nonexistent/bin/detbuild': No such file or directory",
    );
  });

  it('copy-in: a source file missing from the prep stage ends the stage before anything is sent', async () => {
    const prep = stageDir(ws, 'core-vchan-xen', 'prep');
    const dsc = (await readdir(prep)).find((f) => f.endsWith('.dsc'))!;
    await rm(path.join(prep, dsc));
    const r = await qb(ws, ['-c', 'core-vchan-xen', 'package', 'build']);
    expect(r.code).not.toBe(0);
    expect(errorLine(r)).toContain(`core-vchan-xen:vm-debian-12.amd64:debian: cannot find ${dsc} from the prep stage`);
    expect(r.output).not.toMatch(/building in .* through qubes\.DetBuild/);
  });
});
