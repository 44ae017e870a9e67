/**
 * dom0's template regeneration (salt/detbuild/files/detbuild-template-regen):
 * the switch-over decision as a table, then the whole cycle run against
 * doubles of qvm-run, qvm-create, qvm-volume and qvm-prefs (dom0's tools do
 * not exist here) to show that an image whose hash is not the published one,
 * or that changed under an unchanged lock, never reaches detbuild-dvm. Also the
 * salt state (timer disabled unless the pillar enables it) and the units.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockSha256, serializeLock } from '../../src/recipes/template/index.js';
import { freshDir, removeUnlessKept, repoRoot } from '../helpers/trees.js';
import { arg, render, states, PYTHON } from './salt-render.js';
import { SAMPLE_LOCK } from '../template/sample-lock.js';

const SCRIPT = path.join(repoRoot, 'salt', 'detbuild', 'files', 'detbuild-template-regen');
const H = (s: string) => createHash('sha256').update(s).digest('hex');
const LOCK_A = H('lock-a');
const IMG_1 = H('image-1');
const IMG_2 = H('image-2');

async function decide(input: object): Promise<{ action: string; reason: string; exit: number }> {
  const r = await execa(PYTHON, [SCRIPT, 'decide', JSON.stringify(input)], { reject: false });
  return { ...(JSON.parse(r.stdout) as { action: string; reason: string }), exit: r.exitCode ?? -1 };
}

describe('switch-over decision', () => {
  const cases: Array<{ name: string; input: object; action: string; exit: number }> = [
    { name: 'first image, matches the published hash', input: { lock_sha256: LOCK_A, claimed_sha256: IMG_1, received_sha256: IMG_1, previous: null, published_sha256: IMG_1 }, action: 'install', exit: 0 },
    { name: 'image differs from the published hash', input: { lock_sha256: LOCK_A, claimed_sha256: IMG_2, received_sha256: IMG_2, previous: null, published_sha256: IMG_1 }, action: 'refuse', exit: 3 },
    { name: 'no published hash', input: { lock_sha256: LOCK_A, claimed_sha256: IMG_1, received_sha256: IMG_1, previous: null, published_sha256: null }, action: 'refuse', exit: 3 },
    { name: 'received bytes are not what the builder reported', input: { lock_sha256: LOCK_A, claimed_sha256: IMG_1, received_sha256: IMG_2, previous: null, published_sha256: IMG_2 }, action: 'refuse', exit: 3 },
    { name: 'unchanged lock, changed image: alarm even if published says so', input: { lock_sha256: LOCK_A, claimed_sha256: IMG_2, received_sha256: IMG_2, previous: { lock_sha256: LOCK_A, image_sha256: IMG_1, template: 't1' }, published_sha256: IMG_2 }, action: 'alarm', exit: 2 },
    { name: 'unchanged lock, same image: nothing to do', input: { lock_sha256: LOCK_A, claimed_sha256: IMG_1, received_sha256: IMG_1, previous: { lock_sha256: LOCK_A, image_sha256: IMG_1, template: 't1' }, published_sha256: IMG_1 }, action: 'unchanged', exit: 0 },
    { name: 'new lock, new published image', input: { lock_sha256: H('lock-b'), claimed_sha256: IMG_2, received_sha256: IMG_2, previous: { lock_sha256: LOCK_A, image_sha256: IMG_1, template: 't1' }, published_sha256: IMG_2 }, action: 'install', exit: 0 },
    { name: 'not a hash', input: { lock_sha256: LOCK_A, claimed_sha256: 'x', received_sha256: 'x', previous: null, published_sha256: 'x' }, action: 'refuse', exit: 3 },
  ];
  it.each(cases)('$name -> $action', async ({ input, action, exit }) => {
    const d = await decide(input);
    expect(d.action, d.reason).toBe(action);
    expect(d.exit).toBe(exit);
  });
});

const LOCK = SAMPLE_LOCK;

describe('the regeneration cycle against doubles of the qvm tools', () => {
  let root: string;
  let bin: string;
  const image = 'a root image\n'.repeat(1000);

  beforeAll(async () => {
    root = await freshDir('regen');
    bin = path.join(root, 'bin');
    await mkdir(bin);
    // qvm-run: the first call (the fetcher's script) swallows the lock and prints a
    // manifest claiming $CLAIM for root.img; the second (cat) sends $IMAGE_FILE
    await writeFile(
      path.join(bin, 'qvm-run'),
      `#!/bin/sh\necho "qvm-run $*" >> "$CALLS"\ncase "$*" in\n  *"cat \\"\\$HOME"*) cat "$IMAGE_FILE";;\n  *) cat > "$CALLS.lock"; printf '{"artifacts":[{"path":"root.img","sha256":"%s","size":1}]}' "$CLAIM";;\nesac\n`,
    );
    for (const tool of ['qvm-create', 'qvm-volume', 'qvm-prefs']) {
      await writeFile(path.join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> "$CALLS"\n`);
    }
    for (const tool of ['qvm-run', 'qvm-create', 'qvm-volume', 'qvm-prefs']) await chmod(path.join(bin, tool), 0o755);
    await writeFile(path.join(root, 'image'), image);
    await writeFile(path.join(root, 'lock.json'), serializeLock(LOCK));
  });
  afterAll(async () => {
    if (root) await removeUnlessKept(root);
  });

  async function cycle(name: string, published: string | null, state: object | null) {
    const dir = path.join(root, name);
    await mkdir(dir);
    if (published !== null) await writeFile(path.join(dir, 'published'), `${published}  root.img\n`);
    if (state) await writeFile(path.join(dir, 'state.json'), JSON.stringify(state));
    const conf = [
      `LOCK=${path.join(root, 'lock.json')}`,
      `PUBLISHED=${path.join(dir, 'published')}`,
      'FETCHER=fetcher',
      'DVM=detbuild-dvm',
      `STATE=${path.join(dir, 'state.json')}`,
      `WORK=${path.join(dir, 'incoming')}`,
    ].join('\n');
    await writeFile(path.join(dir, 'conf'), `${conf}\n`);
    const calls = path.join(dir, 'calls');
    await writeFile(calls, '');
    const r = await execa(PYTHON, [SCRIPT, 'run', '--config', path.join(dir, 'conf')], {
      reject: false,
      env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, CALLS: calls, IMAGE_FILE: path.join(root, 'image'), CLAIM: H(image) },
    });
    return { exit: r.exitCode, stderr: r.stderr, calls: await readFile(calls, 'utf8'), dir };
  }

  it('installs an image whose hash is the published one and switches detbuild-dvm', async () => {
    const r = await cycle('ok', H(image), null);
    expect(r.exit, r.stderr).toBe(0);
    const name = `detbuild-template-${H(image).slice(0, 12)}`;
    expect(r.calls).toContain(`qvm-create --class TemplateVM --label black ${name}`);
    expect(r.calls).toContain(`qvm-volume import ${name}:root ${path.join(r.dir, 'incoming', 'root.img')}`);
    expect(r.calls.trim().split('\n').at(-1)).toBe(`qvm-prefs detbuild-dvm template ${name}`);
    const state = JSON.parse(await readFile(path.join(r.dir, 'state.json'), 'utf8')) as Record<string, string>;
    expect(state.image_sha256).toBe(H(image));
    // dom0 and detbuild agree on what "the same lock" is
    expect(state.lock_sha256).toBe(lockSha256(LOCK));
    // the lock reached the fetcher unchanged
    expect(await readFile(`${path.join(r.dir, 'calls')}.lock`, 'utf8')).toBe(serializeLock(LOCK));
  });

  it('refuses an image whose hash does not match the published one: nothing created, template unchanged', async () => {
    const r = await cycle('mismatch', H('another image'), null);
    expect(r.exit).toBe(3);
    expect(r.stderr).toMatch(/does not match the published hash/);
    expect(r.calls).not.toMatch(/qvm-create|qvm-volume|qvm-prefs/);
  });

  it('raises an alarm when the unchanged lock gives another image, and installs nothing', async () => {
    const previous = { lock_sha256: lockSha256(LOCK), image_sha256: H('the image of last week'), template: 'detbuild-template-old' };
    const r = await cycle('alarm', H(image), previous);
    expect(r.exit).toBe(2);
    expect(r.stderr).toMatch(/"level": "alarm"/);
    expect(r.stderr).toMatch(/not reproducible/);
    expect(r.calls).not.toMatch(/qvm-create|qvm-volume|qvm-prefs/);
    const state = JSON.parse(await readFile(path.join(r.dir, 'state.json'), 'utf8')) as Record<string, unknown>;
    expect(state.template).toBe('detbuild-template-old');
    expect(state.last_alarm).toEqual({ lock_sha256: lockSha256(LOCK), image_sha256: H(image) });
  });
});

describe('salt state detbuild.template-regen and the units', () => {
  it('installs script, config and units; the timer stays disabled by default', () => {
    const s = states(render('detbuild/template-regen.sls').data);
    const byId = Object.fromEntries(s.map((x) => [x.id, x]));
    expect(arg(byId['detbuild-template-regen-script']!, 'name')).toBe('/usr/lib/qubes-detbuild/detbuild-template-regen');
    expect(arg(byId['detbuild-template-regen-script']!, 'mode')).toBe('0755');
    expect(byId['detbuild-template-regen-timer-disabled']?.fn).toBe('service.dead');
    expect(arg(byId['detbuild-template-regen-timer-disabled']!, 'enable')).toBe(false);
    expect(byId['detbuild-template-regen-timer-enabled']).toBeUndefined();
    for (const x of s) expect(['file.managed', 'service.dead', 'service.running']).toContain(x.fn);
  });

  it('enables the timer only when the pillar says so', () => {
    const s = states(render('detbuild/template-regen.sls', { pillar: { detbuild: { template_regen: { enable: true } } } }).data);
    const on = s.find((x) => x.id === 'detbuild-template-regen-timer-enabled');
    expect(on?.fn).toBe('service.running');
    expect(arg(on!, 'name')).toBe('detbuild-template-regen.timer');
    expect(arg(on!, 'enable')).toBe(true);
  });

  it('renders the configuration from the pillar, with the disposable template of the builders', () => {
    const text = render('detbuild/files/template-regen.conf.jinja', { pillar: { detbuild: { dvm: 'my-dvm', template_regen: { fetcher: 'sys-detbuild-fetch' } } }, yaml: false }).text;
    expect(text).toMatch(/^FETCHER=sys-detbuild-fetch$/m);
    expect(text).toMatch(/^TARGET=@dispvm:my-dvm$/m);
    expect(text).toMatch(/^DVM=my-dvm$/m);
  });

  it('has a oneshot service and a weekly timer for timers.target', async () => {
    const service = await readFile(path.join(repoRoot, 'salt/detbuild/files/detbuild-template-regen.service'), 'utf8');
    const timer = await readFile(path.join(repoRoot, 'salt/detbuild/files/detbuild-template-regen.timer'), 'utf8');
    expect(service).toMatch(/^Type=oneshot$/m);
    expect(service).toMatch(/^ExecStart=\/usr\/lib\/qubes-detbuild\/detbuild-template-regen run /m);
    expect(timer).toMatch(/^OnCalendar=weekly$/m);
    expect(timer).toMatch(/^\[Install\]\nWantedBy=timers.target$/m);
  });
});
