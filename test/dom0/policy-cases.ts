/**
 * The machine and the requests that test/dom0/policy.test.ts evaluates against
 * policy/30-detbuild.policy followed by a permissive "later" file.
 */
import type { Action, Request, System } from './qrexec-policy.js';

export interface Names {
  clientTag: string;
  builderTag: string;
  dvm: string;
  builder: string;
}

export const DEFAULT_NAMES: Names = {
  clientTag: 'detbuild-client',
  builderTag: 'detbuild-builder',
  dvm: 'detbuild-dvm',
  builder: 'builder',
};

/**
 * What a later policy file (Qubes' 90-default and friends, or an admin's
 * careless 50-*.policy) allows: the rules that would open a builder if our
 * file did not come first, and a catch-all allow.
 */
export const LATER_POLICY = `\
qubes.VMShell       *  @anyvm  @dispvm   allow
qubes.VMExec        *  @anyvm  @dispvm   allow
qubes.OpenInVM      *  @anyvm  @dispvm   allow
qubes.Filecopy      *  @anyvm  @anyvm    ask
qubes.GetDate       *  @anyvm  @anyvm    allow target=dom0
qubes.NotifyTools   *  @anyvm  dom0      allow
qubes.DetBuild      *  @anyvm  @anyvm    allow
*                   *  @anyvm  @anyvm    allow
*                   *  @anyvm  @adminvm  allow
`;

export function system(n: Names = DEFAULT_NAMES): System {
  return {
    dom0: { type: 'AdminVM', tags: [] },
    work: { type: 'AppVM', tags: [n.clientTag], defaultDispvm: 'default-dvm' },
    // a client whose default disposable template is the builders' one
    dev: { type: 'AppVM', tags: [n.clientTag], defaultDispvm: n.dvm },
    // untagged qubes, one of them with the builders' template as default_dispvm
    personal: { type: 'AppVM', tags: [], defaultDispvm: n.dvm },
    untrusted: { type: 'AppVM', tags: [], defaultDispvm: 'default-dvm' },
    // carries both tags: the builder tag wins
    confused: { type: 'AppVM', tags: [n.clientTag, n.builderTag], defaultDispvm: n.dvm },
    'default-dvm': { type: 'AppVM', tags: [], templateForDispvms: true, defaultDispvm: 'default-dvm' },
    [n.dvm]: { type: 'AppVM', tags: [n.builderTag], templateForDispvms: true, defaultDispvm: null },
    [n.builder]: { type: 'DispVM', tags: [n.builderTag], defaultDispvm: null },
    // a running disposable started from the builders' template (tags inherited)
    disp4711: { type: 'DispVM', tags: [n.builderTag], defaultDispvm: null },
    'detbuild-template': { type: 'TemplateVM', tags: [] },
    'sys-net': { type: 'AppVM', tags: [] },
  };
}

export interface Case {
  why: string;
  request: Request;
  expect: Action;
  /** for allow: where the call must land */
  target?: string;
}

const call = (source: string, target: string, service: string, argument = '+'): Request => ({
  source,
  target,
  service,
  argument,
});

export function cases(n: Names = DEFAULT_NAMES): Case[] {
  const dvm = `@dispvm:${n.dvm}`;
  const modes = ['+', '+build', '+verify', '+info'];
  const list: Case[] = [];
  for (const argument of modes) {
    list.push(
      { why: `client, named builder, ${argument}`, request: call('work', n.builder, 'qubes.DetBuild', argument), expect: 'allow', target: n.builder },
      { why: `client, new builder disposable, ${argument}`, request: call('work', dvm, 'qubes.DetBuild', argument), expect: 'allow', target: dvm },
      { why: `second client, ${argument}`, request: call('dev', n.builder, 'qubes.DetBuild', argument), expect: 'allow', target: n.builder },
      { why: `untagged caller, named builder, ${argument}`, request: call('untrusted', n.builder, 'qubes.DetBuild', argument), expect: 'deny' },
      { why: `untagged caller, new builder disposable, ${argument}`, request: call('personal', dvm, 'qubes.DetBuild', argument), expect: 'deny' },
    );
  }
  list.push(
    // the service itself, beyond the allowed modes and targets
    { why: 'client, unknown mode', request: call('work', n.builder, 'qubes.DetBuild', '+shell'), expect: 'deny' },
    { why: 'client, mode with a suffix', request: call('work', n.builder, 'qubes.DetBuild', '+build+x'), expect: 'deny' },
    { why: 'client, mode in another case', request: call('work', dvm, 'qubes.DetBuild', '+Build'), expect: 'deny' },
    { why: 'client via @dispvm whose default is the builders\' template', request: call('dev', '@dispvm', 'qubes.DetBuild', '+build'), expect: 'allow', target: dvm },
    { why: 'client via @dispvm whose default is another template', request: call('work', '@dispvm', 'qubes.DetBuild', '+build'), expect: 'deny' },
    { why: 'client, the disposable template itself', request: call('work', n.dvm, 'qubes.DetBuild', '+build'), expect: 'deny' },
    { why: 'client, a running builder disposable by name', request: call('work', 'disp4711', 'qubes.DetBuild', '+build'), expect: 'deny' },
    { why: 'client, another disposable template', request: call('work', '@dispvm:default-dvm', 'qubes.DetBuild', '+build'), expect: 'deny' },
    { why: 'client, another qube', request: call('work', 'dev', 'qubes.DetBuild', '+build'), expect: 'deny' },
    { why: 'client, dom0', request: call('work', 'dom0', 'qubes.DetBuild', '+info'), expect: 'deny' },
    { why: 'client, no target', request: call('work', '@default', 'qubes.DetBuild', '+build'), expect: 'deny' },
    { why: 'untagged, via @dispvm whose default is the builders\' template', request: call('personal', '@dispvm', 'qubes.DetBuild', '+build'), expect: 'deny' },
    // other services into builder qubes, which the later file would allow
    { why: 'client, shell in the named builder', request: call('work', n.builder, 'qubes.VMShell'), expect: 'deny' },
    { why: 'client, root shell in the named builder', request: call('work', n.builder, 'qubes.VMRootShell'), expect: 'deny' },
    { why: 'client, file copy into the named builder', request: call('work', n.builder, 'qubes.Filecopy'), expect: 'deny' },
    { why: 'client, shell in a new builder disposable', request: call('work', dvm, 'qubes.VMShell'), expect: 'deny' },
    { why: 'client, exec in a new builder disposable', request: call('work', dvm, 'qubes.VMExec', '+bin+sh'), expect: 'deny' },
    { why: 'untagged, shell via @dispvm = builders\' template', request: call('personal', '@dispvm', 'qubes.VMShell'), expect: 'deny' },
    { why: 'untagged, open a file via @dispvm = builders\' template', request: call('personal', '@dispvm', 'qubes.OpenInVM'), expect: 'deny' },
    { why: 'untagged, file copy into a running builder', request: call('untrusted', 'disp4711', 'qubes.Filecopy'), expect: 'deny' },
    { why: 'untagged, shell in the disposable template', request: call('untrusted', n.dvm, 'qubes.VMShell'), expect: 'deny' },
    { why: 'untagged, any service on the named builder', request: call('untrusted', n.builder, 'my.Service', '+x'), expect: 'deny' },
    // builder qubes calling out
    { why: 'builder syncs its clock (no target)', request: call(n.builder, '@default', 'qubes.GetDate'), expect: 'deny' },
    { why: 'builder asks dom0 for the date', request: call(n.builder, 'dom0', 'qubes.GetDate'), expect: 'deny' },
    { why: 'running builder notifies dom0 of its tools', request: call('disp4711', '@adminvm', 'qubes.NotifyTools'), expect: 'deny' },
    { why: 'builder copies a file to a client', request: call(n.builder, 'work', 'qubes.Filecopy'), expect: 'deny' },
    { why: 'builder opens a shell in a disposable', request: call(n.builder, '@dispvm', 'qubes.VMShell'), expect: 'deny' },
    { why: 'builder calls another builder', request: call('disp4711', n.builder, 'qubes.DetBuild', '+build'), expect: 'deny' },
    { why: 'builder starts a builder disposable', request: call(n.builder, dvm, 'qubes.DetBuild', '+build'), expect: 'deny' },
    { why: 'disposable template calls the network qube', request: call(n.dvm, 'sys-net', 'qubes.ConnectTCP', '+443'), expect: 'deny' },
    { why: 'a qube with both tags is a builder', request: call('confused', n.builder, 'qubes.DetBuild', '+build'), expect: 'deny' },
    // the rest of the machine is left to the later files
    { why: 'unrelated: shell in another disposable', request: call('work', '@dispvm', 'qubes.VMShell'), expect: 'allow', target: '@dispvm:default-dvm' },
    { why: 'unrelated: file copy between clients', request: call('work', 'dev', 'qubes.Filecopy'), expect: 'ask' },
    { why: 'unrelated: a client syncs its clock', request: call('work', '@default', 'qubes.GetDate'), expect: 'allow', target: 'dom0' },
    { why: 'unrelated: untagged qube to the template', request: call('untrusted', 'detbuild-template', 'qubes.Filecopy'), expect: 'ask' },
  );
  return list;
}
