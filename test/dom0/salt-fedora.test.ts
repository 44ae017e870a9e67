/**
 * The Fedora builder family of the salt formula (detbuild.fedora, pillar
 * detbuild:fedora): off by default (nothing changes, see salt.test.ts); on,
 * a Fedora builder template, detbuild-fedora-dvm and builder-fedora beside
 * the Debian ones, the top and the template state for them, and a policy in
 * which both families are reachable by clients only and closed to
 * everything else (Qubes' own policy evaluator, from the upstream snapshot).
 */
import { describe, expect, it } from 'vitest';
import { cases, DEFAULT_NAMES, LATER_POLICY, system, type Names } from './policy-cases.js';
import { evaluateAll, parsePolicy, qrexecMissing } from './qrexec-policy.js';
import { arg, listToObject, render, states } from './salt-render.js';

const ON = { detbuild: { clients: ['work'], fedora: { enable: true, vm_package_rpm: 'salt://detbuild/files/qubes-detbuild-vm.rpm', build_packages: ['rpm-build', 'gcc', 'xen-devel'] } } };
const FEDORA: Names = { ...DEFAULT_NAMES, dvm: 'detbuild-fedora-dvm', builder: 'builder-fedora' };

describe('salt formula: the Fedora builder', () => {
  it('is off by default: detbuild.fedora renders no state', () => {
    const { include, ...off } = render('detbuild/fedora.sls', { pillar: {} }).data as Record<string, unknown>;
    expect(include).toEqual(['detbuild']);
    expect(states(off)).toEqual([]);
  });

  it('on: template cloned from Fedora, disposable template and named disposable like the Debian ones', () => {
    // the states require detbuild-policy of detbuild (init.sls), which the file includes
    const { include, ...data } = render('detbuild/fedora.sls', { pillar: ON }).data as Record<string, unknown>;
    expect(include).toEqual(['detbuild']);
    const all = states(data);
    const debian = states(render('detbuild/init.sls', { pillar: ON }).data);
    expect(all.map((s) => [s.id, s.fn])).toEqual([
      ['detbuild-fedora-base-template', 'qvm.template_installed'],
      ['detbuild-fedora-template', 'qvm.clone'],
      ['detbuild-fedora-dvm', 'qvm.vm'],
      ['detbuild-fedora-builder', 'qvm.vm'],
    ]);
    const byId = (list: typeof all, id: string) => list.find((s) => s.id === id)!;
    expect([arg(byId(all, 'detbuild-fedora-template'), 'name'), arg(byId(all, 'detbuild-fedora-template'), 'source')]).toEqual(['detbuild-fedora-template', 'fedora-41-minimal']);
    const dvm = byId(all, 'detbuild-fedora-dvm');
    expect(arg(dvm, 'name')).toBe('detbuild-fedora-dvm');
    expect(listToObject(arg(dvm, 'prefs'))).toMatchObject({ template: 'detbuild-fedora-template', template_for_dispvms: true });
    const builder = byId(all, 'detbuild-fedora-builder');
    expect(listToObject(arg(builder, 'present'))).toEqual({ class: 'DispVM', template: 'detbuild-fedora-dvm', label: 'red' });
    // the same isolation as the Debian builders: no network, one vCPU, fixed memory, vDSO off, builder tag, detbuildd
    for (const [f, d] of [[dvm, byId(debian, 'detbuild-dvm')], [builder, byId(debian, 'detbuild-builder')]] as const) {
      const fp = listToObject(arg(f, 'prefs'));
      const dp = listToObject(arg(d, 'prefs'));
      for (const k of ['netvm', 'default_dispvm', 'include_in_backups', 'memory', 'maxmem', 'vcpus', 'kernel', 'kernelopts', 'label']) expect(fp[k], k).toEqual(dp[k]);
      expect(arg(f, 'tags')).toEqual(arg(d, 'tags'));
      expect(arg(f, 'service')).toEqual(arg(d, 'service'));
      expect(arg(f, 'require')).toContainEqual({ file: 'detbuild-policy' });
    }
  });

  it('on: the top gives dom0 detbuild.fedora and the Fedora template the template state', () => {
    const top = render('detbuild/init.top', { pillar: ON }).data as Record<string, Record<string, unknown[]>>;
    expect(top['base']).toEqual({
      dom0: [{ match: 'nodegroup' }, 'detbuild', 'detbuild.fedora'],
      'detbuild-template': ['detbuild.template'],
      'detbuild-fedora-template': ['detbuild.template'],
    });
  });

  it('on: the Fedora template installs the VM rpm and rpmbuild with the listed BuildRequires', () => {
    const tpl = states(render('detbuild/template.sls', { pillar: ON, grains: { os_family: 'RedHat', id: 'detbuild-fedora-template' } }).data);
    expect(tpl.map((s) => s.id)).toEqual(['detbuild-vm-package', 'detbuild-fedora-build-packages']);
    expect(arg(tpl[0]!, 'sources')).toEqual([{ 'qubes-detbuild-vm': 'salt://detbuild/files/qubes-detbuild-vm.rpm' }]);
    expect(arg(tpl[1]!, 'pkgs')).toEqual(['rpm-build', 'gcc', 'xen-devel']);
    // a Fedora template that is not the Fedora builder's: as before
    const other = states(render('detbuild/template.sls', { pillar: ON, grains: { os_family: 'RedHat', id: 'detbuild-template' } }).data);
    expect(other.map((s) => s.id)).toEqual(['detbuild-vm-package']);
  });

  it.skipIf(qrexecMissing)('on: the policy opens both families to clients only and closes them to everything else', () => {
    const text = render('detbuild/files/30-detbuild.policy.jinja', { pillar: ON, yaml: false }).text;
    const rules = [...parsePolicy(text, '30-detbuild.policy').rules, ...parsePolicy(LATER_POLICY, '90-later.policy').rules];
    // each family's cases on a machine where the qubes that use a builders' template as default_dispvm use that family's
    for (const names of [DEFAULT_NAMES, FEDORA]) {
      const machine = { ...system(DEFAULT_NAMES), ...system(FEDORA), ...system(names) };
      const all = cases(names);
      const decisions = evaluateAll(rules, machine, all.map((c) => c.request));
      for (const [i, c] of all.entries()) {
        expect(decisions[i]!.action, `${names.builder}: ${c.why}`).toBe(c.expect);
        if (c.expect === 'allow') expect(decisions[i]!.target, c.why).toBe(c.target);
      }
    }
  });
});
