import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cases, LATER_POLICY, type Names, system } from './policy-cases.js';
import { evaluateAll, parsePolicy, qrexecMissing } from './qrexec-policy.js';
import { arg, listToObject, render, type State, states } from './salt-render.js';

/*
 * Argument names that Qubes' qvm salt states accept, read from
 * QubesOS/qubes-mgmt-salt-dom0-qvm (_states/ext_state_qvm.py and
 * _modules/ext_module_qvm.py, commit a1182edb9d64): each state calls the
 * module function of the same name (qvm.present -> qvm.create), whose argparse
 * options, without their dashes, are the keys it takes; unknown keys are
 * silently dropped there, which is why this test insists on them.
 */
const PREFS_PROPERTIES = [
  'autostart', 'debug', 'default-user', 'default_user', 'default-dispvm', 'default_dispvm',
  'devices-denied', 'devices_denied', 'management-dispvm', 'management_dispvm', 'guivm', 'audiovm',
  'template-for-dispvms', 'template_for_dispvms', 'dispvm-allowed', 'virt-mode', 'virt_mode', 'label',
  'last-backup', 'last_backup', 'include-in-backups', 'include_in_backups', 'installed-by-rpm',
  'installed_by_rpm', 'ip', 'kernel', 'kernelopts', 'mac', 'maxmem', 'memory', 'netvm',
  'pci-strictreset', 'pci_strictreset', 'pcidevs', 'provides-network', 'provides_network', 'template',
  'qrexec-timeout', 'qrexec_timeout', 'updateable', 'vcpus',
];
const QVM_ACTION_ARGS: Record<string, string[]> = {
  present: ['template', 'label', 'class', 'mem', 'vcpus', 'root-move-from', 'root-copy-from', 'flags'],
  clone: ['source', 'path', 'flags'],
  prefs: [...PREFS_PROPERTIES, 'action', 'get', 'set'],
  features: ['list', 'enable', 'disable', 'default', 'set'],
  service: ['list', 'enable', 'disable', 'default'],
  tags: ['list', 'add', 'present', 'del', 'absent'],
};
/** qvm.vm(name, actions=..., <action>: [...]) with the actions of ext_state_qvm.vm. */
const QVM_VM_ACTIONS = [
  'exists', 'running', 'missing', 'halted', 'absent', 'present', 'clone', 'prefs', 'devices',
  'service', 'features', 'firewall', 'tags', 'unpause', 'pause', 'shutdown', 'kill', 'start', 'run',
];
const LABELS = ['red', 'yellow', 'green', 'blue', 'purple', 'orange', 'gray', 'black'];
const BOOL_PREFS = ['template_for_dispvms', 'template-for-dispvms', 'include_in_backups', 'include-in-backups', 'autostart'];
const INT_PREFS = ['memory', 'maxmem', 'vcpus', 'qrexec_timeout'];
/** Salt's requisites, valid on any state. */
const REQUISITES = ['require', 'watch', 'onchanges', 'prereq', 'require_in', 'watch_in', 'onlyif', 'unless', 'order'];
/** Other functions used, with the arguments we allow ourselves (all valid in Salt 3006). */
const OTHER_FUNCTIONS: Record<string, string[]> = {
  'qvm.template_installed': ['name', 'fromrepo', 'pool'],
  'qvm.clone': ['name', ...QVM_ACTION_ARGS['clone']!],
  'qvm.present': ['name', ...QVM_ACTION_ARGS['present']!],
  'qvm.prefs': ['name', ...QVM_ACTION_ARGS['prefs']!],
  'qvm.tags': ['name', ...QVM_ACTION_ARGS['tags']!],
  'qvm.features': ['name', ...QVM_ACTION_ARGS['features']!],
  'file.managed': ['name', 'source', 'template', 'user', 'group', 'mode', 'makedirs', 'contents'],
  'pkg.installed': ['name', 'pkgs', 'sources', 'version', 'refresh', 'skip_verify'],
  'test.fail_without_changes': ['name'],
};

function checkActionArgs(where: string, action: string, value: unknown): void {
  const accepted = QVM_ACTION_ARGS[action];
  expect(accepted, `${where}: action ${action} is used but not checked here`).toBeDefined();
  expect(Array.isArray(value), `${where}: ${action} takes a list`).toBe(true);
  for (const item of value as unknown[]) {
    const keys = typeof item === 'object' && item !== null ? Object.keys(item) : [String(item)];
    for (const key of keys) expect(accepted, `${where}: ${action} does not take ${key}`).toContain(key);
  }
  if (action === 'prefs' || action === 'present') {
    const o = listToObject(value);
    if ('label' in o) expect(LABELS).toContain(o['label']);
    for (const k of BOOL_PREFS) if (k in o) expect(typeof o[k], `${where}: ${k}`).toBe('boolean');
    for (const k of INT_PREFS) if (k in o) expect(Number.isInteger(o[k]), `${where}: ${k}`).toBe(true);
    for (const k of ['netvm', 'default_dispvm', 'kernel', 'kernelopts', 'template']) {
      if (k in o) expect(typeof o[k], `${where}: ${k}`).toBe('string');
    }
  }
  if (action === 'tags' || action === 'features' || action === 'service') {
    for (const [k, v] of Object.entries(listToObject(value))) {
      if (k !== 'set') expect(Array.isArray(v), `${where}: ${action}.${k} takes a list`).toBe(true);
    }
  }
}

function checkState(state: State): void {
  const where = `${state.id} (${state.fn})`;
  const keys = state.args.map(([k]) => k).filter((k) => !REQUISITES.includes(k));
  if (state.fn === 'qvm.vm') {
    for (const key of keys) expect(['name', 'actions', ...QVM_VM_ACTIONS], `${where}: ${key}`).toContain(key);
    for (const [key, value] of state.args) if (QVM_VM_ACTIONS.includes(key)) checkActionArgs(where, key, value);
    return;
  }
  const accepted = OTHER_FUNCTIONS[state.fn];
  expect(accepted, `${where}: function not expected`).toBeDefined();
  for (const key of keys) expect(accepted, `${where}: ${key}`).toContain(key);
  for (const action of ['prefs', 'present', 'tags', 'features']) {
    if (state.fn === `qvm.${action}`) checkActionArgs(where, action, state.args.filter(([k]) => k !== 'name' && !REQUISITES.includes(k)).map(([k, v]) => ({ [k]: v })));
  }
}

function checkRequisites(all: State[]): void {
  const ids = new Set(all.map((s) => s.id));
  for (const s of all) {
    for (const [key, value] of s.args) {
      if (!['require', 'watch', 'onchanges'].includes(key)) continue;
      for (const req of value as Array<Record<string, string>>) {
        const [[mod, id]] = Object.entries(req) as [[string, string]];
        const target = all.find((t) => t.id === id);
        expect(ids.has(id), `${s.id} requires missing ${id}`).toBe(true);
        expect(target?.fn.split('.')[0], `${s.id} requires ${mod}: ${id}`).toBe(mod);
      }
    }
  }
}

const byId = (all: State[], id: string): State => {
  const s = all.find((x) => x.id === id);
  if (!s) throw new Error(`no state ${id}`);
  return s;
};

const CUSTOM = {
  detbuild: {
    base_template: 'debian-13-xfce',
    install_base_template: false,
    template: 'tpl-build',
    dvm: 'repro-dvm',
    builder: 'repro',
    client_tag: 'may-build',
    builder_tag: 'is-builder',
    clients: ['work', 'dev'],
    label: 'purple',
    memory: 2000,
    vcpus: 1,
    kernel: '6.6.48-1.fc37',
  },
};

describe.each([
  ['default pillar', {}],
  ['custom pillar', CUSTOM],
] as const)('salt formula, %s', (_name, pillar) => {
  const p = { ...{ template: 'detbuild-template', dvm: 'detbuild-dvm', builder: 'builder', client_tag: 'detbuild-client', builder_tag: 'detbuild-builder', base_template: 'debian-12-minimal', clients: [] as string[], memory: 4000, label: 'red', kernel: '*default*' }, ...(pillar as typeof CUSTOM).detbuild };
  const dom0 = states(render('detbuild/init.sls', { pillar, grains: { id: 'dom0', os_family: 'RedHat' } }).data);

  it('dom0 state: every function and argument is one Qubes and Salt accept', () => {
    expect(dom0.length).toBeGreaterThanOrEqual(4);
    dom0.forEach(checkState);
    checkRequisites(dom0);
  });

  it('installs the policy first, as root:qubes 0664', () => {
    const policy = byId(dom0, 'detbuild-policy');
    expect(policy.fn).toBe('file.managed');
    expect(arg(policy, 'name')).toBe('/etc/qubes/policy.d/30-detbuild.policy');
    expect(arg(policy, 'source')).toBe('salt://detbuild/files/30-detbuild.policy.jinja');
    expect(arg(policy, 'template')).toBe('jinja');
    expect([arg(policy, 'user'), arg(policy, 'group'), arg(policy, 'mode')]).toEqual(['root', 'qubes', '0664']);
    for (const s of dom0.filter((x) => x.fn.startsWith('qvm.') && x.fn !== 'qvm.template_installed')) {
      expect(arg(s, 'require'), `${s.id} requires the policy`).toContainEqual({ file: 'detbuild-policy' });
    }
  });

  it('clones the builder template from the base template', () => {
    const tpl = byId(dom0, 'detbuild-template');
    expect(tpl.fn).toBe('qvm.clone');
    expect([arg(tpl, 'name'), arg(tpl, 'source')]).toEqual([p.template, p.base_template]);
    const installs = dom0.filter((s) => s.fn === 'qvm.template_installed');
    expect(installs.map((s) => arg(s, 'name'))).toEqual(pillar === CUSTOM ? [] : [p.base_template]);
  });

  const expectBuilderPrefs = (prefs: Record<string, unknown>) => {
    expect(prefs['netvm']).toBe('');
    expect(prefs['default_dispvm']).toBe('');
    expect(prefs['vcpus']).toBe(1);
    expect(prefs['memory']).toBe(p.memory);
    expect(prefs['maxmem']).toBe(0);
    expect(prefs['kernel']).toBe(p.kernel);
    expect(prefs['kernel']).not.toBe('');
    // kernelopts replaces Qubes' default swiotlb=2048: keep it, and unmap the vDSO
    expect(String(prefs['kernelopts']).split(' ')).toEqual(['swiotlb=2048', 'vdso=0', 'vdso32=0']);
  };

  it('makes the disposable template: no network, one vCPU, fixed memory, vDSO off, tagged', () => {
    const dvm = byId(dom0, 'detbuild-dvm');
    expect(dvm.fn).toBe('qvm.vm');
    expect(arg(dvm, 'name')).toBe(p.dvm);
    expect(listToObject(arg(dvm, 'present'))).toEqual({ template: p.template, label: p.label });
    const prefs = listToObject(arg(dvm, 'prefs'));
    expect(prefs['template']).toBe(p.template);
    expect(prefs['template_for_dispvms']).toBe(true);
    expectBuilderPrefs(prefs);
    expect(listToObject(arg(dvm, 'tags'))).toEqual({ add: [p.builder_tag] });
  });

  it('makes the named disposable builder from it', () => {
    const b = byId(dom0, 'detbuild-builder');
    expect(arg(b, 'name')).toBe(p.builder);
    expect(listToObject(arg(b, 'present'))).toEqual({ class: 'DispVM', template: p.dvm, label: p.label });
    const prefs = listToObject(arg(b, 'prefs'));
    expect(prefs['template']).toBe(p.dvm);
    expect(prefs).not.toHaveProperty('template_for_dispvms');
    expectBuilderPrefs(prefs);
    expect(listToObject(arg(b, 'tags'))).toEqual({ add: [p.builder_tag] });
    expect(arg(b, 'require')).toContainEqual({ qvm: 'detbuild-dvm' });
  });

  it('tags exactly the client qubes of the pillar', () => {
    const tagged = dom0.filter((s) => s.fn === 'qvm.tags');
    expect(tagged.map((s) => arg(s, 'name'))).toEqual(p.clients);
    for (const s of tagged) expect(arg(s, 'add')).toEqual([p.client_tag]);
  });

  it('top file: dom0 gets detbuild, the builder template gets detbuild.template', () => {
    const top = render('detbuild/init.top', { pillar }).data as Record<string, Record<string, unknown[]>>;
    expect(Object.keys(top)).toEqual(['base']);
    expect(top['base']).toEqual({ dom0: [{ match: 'nodegroup' }, 'detbuild'], [p.template]: ['detbuild.template'] });
  });

  it.each(['Debian', 'RedHat'])('template state on %s installs the VM package', (osFamily) => {
    const tpl = states(render('detbuild/template.sls', { pillar, grains: { os_family: osFamily } }).data);
    tpl.forEach(checkState);
    expect(tpl.map((s) => [s.id, s.fn])).toEqual([['detbuild-vm-package', 'pkg.installed']]);
    if (osFamily === 'Debian') {
      expect(arg(tpl[0]!, 'sources')).toEqual([{ 'qubes-detbuild-vm': 'salt://detbuild/files/qubes-detbuild-vm.deb' }]);
    } else {
      expect(arg(tpl[0]!, 'name')).toBe('qubes-detbuild-vm');
    }
  });

  it.skipIf(qrexecMissing)('renders a policy that is valid v5 and keeps the builders closed under these names', () => {
    const text = render('detbuild/files/30-detbuild.policy.jinja', { pillar, yaml: false }).text;
    const names: Names = { clientTag: p.client_tag, builderTag: p.builder_tag, dvm: p.dvm, builder: p.builder };
    const rules = [...parsePolicy(text, '30-detbuild.policy').rules, ...parsePolicy(LATER_POLICY, '90-later.policy').rules];
    const machine = system(names);
    const all = cases(names);
    const decisions = evaluateAll(rules, machine, all.map((c) => c.request));
    for (const [i, c] of all.entries()) {
      const d = decisions[i]!;
      expect(d.action, c.why).toBe(c.expect);
      if (c.expect === 'allow') expect(d.target, c.why).toBe(c.target);
    }
    if (pillar !== CUSTOM) {
      expect(text).toBe(readFileSync(fileURLToPath(new URL('../../policy/30-detbuild.policy', import.meta.url)), 'utf8'));
    } else {
      // the rules use the pillar's names only (the header comment lists the defaults)
      const ruleText = text.split('\n').filter((l) => !l.startsWith('#')).join('\n');
      expect(ruleText).not.toMatch(/detbuild-client|detbuild-builder|detbuild-dvm|\sbuilder\s/);
    }
  });
});

describe('salt formula, refusals', () => {
  it('refuses a kernel from the qube itself, on which kernelopts would not apply', () => {
    const all = states(render('detbuild/init.sls', { pillar: { detbuild: { kernel: '' } } }).data);
    const fail = all.find((s) => s.fn === 'test.fail_without_changes');
    expect(String(arg(fail!, 'name'))).toMatch(/dom0-provided kernel/);
  });

  it('refuses an unsupported template distribution', () => {
    const all = states(render('detbuild/template.sls', { grains: { os_family: 'Arch' } }).data);
    expect(all.map((s) => s.fn)).toEqual(['test.fail_without_changes']);
  });
});
