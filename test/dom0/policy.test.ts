import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cases, DEFAULT_NAMES, LATER_POLICY, system } from './policy-cases.js';
import { evaluate, parsePolicy, PolicySyntaxError } from './qrexec-policy.js';

const POLICY_PATH = fileURLToPath(new URL('../../policy/30-detbuild.policy', import.meta.url));
const policyText = readFileSync(POLICY_PATH, 'utf8');

describe('the v5 parser itself', () => {
  const bad: Array<[string, string]> = [
    ['inline comment', 'qubes.DetBuild +build @anyvm builder deny # no'],
    ['four fields', 'qubes.DetBuild +build @anyvm builder'],
    ['argument without +', 'qubes.DetBuild build @anyvm builder deny'],
    ['argument for * service', '* +build @anyvm builder deny'],
    ['bad service characters', 'qubes.Det/Build * @anyvm builder deny'],
    ['@default as source', 'qubes.DetBuild * @default builder deny'],
    ['@dispvm as source', 'qubes.DetBuild * @dispvm builder deny'],
    ['unknown keyword', 'qubes.DetBuild * @anyvm @all deny'],
    ['empty tag', 'qubes.DetBuild * @tag: builder deny'],
    ['v4 $ syntax', 'qubes.DetBuild * $anyvm builder deny'],
    ['unknown action', 'qubes.DetBuild * @anyvm builder permit'],
    ['target= on deny', 'qubes.DetBuild * @anyvm builder deny target=dom0'],
    ['notify=maybe', 'qubes.DetBuild * @anyvm builder deny notify=maybe'],
    ['parameter twice', 'qubes.DetBuild * @anyvm builder allow user=a user=b'],
    ['parameter without a value', 'qubes.DetBuild * @anyvm builder allow notify'],
    ['@tag as redirect', 'qubes.DetBuild * @anyvm builder allow target=@tag:x'],
    ['allow to @default without target=', 'qubes.DetBuild * @anyvm @default allow'],
    ['unknown directive', '!include-all /etc'],
  ];
  it.each(bad)('rejects %s', (_why, line) => {
    expect(() => parsePolicy(`# ok\n${line}\n`, 'bad.policy')).toThrow(PolicySyntaxError);
    try {
      parsePolicy(`# ok\n${line}\n`, 'bad.policy');
    } catch (error) {
      expect((error as PolicySyntaxError).line).toBe(2);
    }
  });

  it('accepts the tokens and parameters the format defines', () => {
    const ok = `
      qubes.A  +       @anyvm              @dispvm:@tag:t  deny notify=yes
      qubes.A  +x.y-z  @dispvm:@tag:t      @dispvm         allow target=@dispvm:dvm user=root autostart=no notify=yes
      qubes.A  *       @type:AppVM         @default        ask default_target=dom0 target=@adminvm
      *        *       uuid:00000000-0000-0000-0000-000000000000  *  deny
      !include-service qubes.A * some-file
      !compat-4.0
    `;
    const parsed = parsePolicy(ok);
    expect(parsed.rules).toHaveLength(4);
    expect(parsed.directives.map((d) => d.name)).toEqual(['!include-service', '!compat-4.0']);
  });
});

describe('policy/30-detbuild.policy', () => {
  const parsed = parsePolicy(policyText, '30-detbuild.policy');

  it('is a valid v5 policy of plain rules, named as policy.d requires', () => {
    expect(parsed.directives).toEqual([]);
    expect(parsed.rules.length).toBeGreaterThan(0);
    // file names in policy.d: [0-9a-z_.-], ending in .policy, not starting with '.'
    expect('30-detbuild.policy').toMatch(/^[0-9a-z_-][0-9a-z_.-]*\.policy$/);
    expect(policyText.endsWith('\n')).toBe(true);
  });

  it('has only full-line comments and no tabs or trailing blanks', () => {
    for (const line of policyText.split('\n')) {
      const t = line.trim();
      if (t.startsWith('#') || t === '') continue;
      expect(line).not.toContain('#');
      expect(line).not.toMatch(/\t|\s$/);
    }
  });

  it('allows qubes.DetBuild only to the client tag, only in its modes, only to builders', () => {
    const allows = parsed.rules.filter((r) => r.action === 'allow');
    expect(allows.length).toBe(8);
    for (const r of allows) {
      expect(r.service).toBe('qubes.DetBuild');
      expect(['+', '+build', '+verify', '+info']).toContain(r.argument);
      expect(r.source).toBe('@tag:detbuild-client');
      expect(['builder', '@dispvm:detbuild-dvm']).toContain(r.target);
      expect(r.params).toEqual({});
    }
    expect(parsed.rules.filter((r) => r.action === 'ask')).toEqual([]);
  });

  it('denies everything a builder calls before any allow', () => {
    const firstAllow = parsed.rules.findIndex((r) => r.action === 'allow');
    const builderOut = parsed.rules.slice(0, firstAllow);
    expect(builderOut.map((r) => [r.service, r.argument, r.source, r.target, r.action])).toEqual([
      [null, null, '@tag:detbuild-builder', '@anyvm', 'deny'],
      [null, null, '@tag:detbuild-builder', '@adminvm', 'deny'],
    ]);
  });

  const rules = [...parsed.rules, ...parsePolicy(LATER_POLICY, '90-later.policy').rules];
  const machine = system();

  it.each(cases().map((c) => [c.why, c] as const))('%s', (_why, c) => {
    const decision = evaluate(rules, machine, c.request);
    expect(decision.action).toBe(c.expect);
    if (c.expect === 'allow') expect(decision.target).toBe(c.target);
    // every decision about a builder is taken by our file, not a later one
    const touchesBuilder =
      c.request.service === 'qubes.DetBuild' ||
      machine[c.request.source]?.tags.includes(DEFAULT_NAMES.builderTag) ||
      [DEFAULT_NAMES.builder, DEFAULT_NAMES.dvm, 'disp4711', `@dispvm:${DEFAULT_NAMES.dvm}`].includes(c.request.target) ||
      (c.request.target === '@dispvm' && machine[c.request.source]?.defaultDispvm === DEFAULT_NAMES.dvm);
    if (touchesBuilder) expect(decision.rule?.file).toBe('30-detbuild.policy');
  });

  it('needs its own rules: without them the later file opens the builders', () => {
    const later = parsePolicy(LATER_POLICY, '90-later.policy').rules;
    const opened = cases().filter((c) => c.expect === 'deny' && evaluate(later, machine, c.request).action !== 'deny');
    expect(opened.length).toBeGreaterThan(20);
  });
});
