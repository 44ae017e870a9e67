import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cases, DEFAULT_NAMES, LATER_POLICY, system } from './policy-cases.js';
import { type Decision, evaluateAll, lintPolicy, type ParsedPolicy, parsePolicy, PolicySyntaxError, qrexecMissing } from './qrexec-policy.js';

const POLICY_PATH = fileURLToPath(new URL('../../policy/30-detbuild.policy', import.meta.url));
const policyText = readFileSync(POLICY_PATH, 'utf8');

if (qrexecMissing) console.info(`policy tests ${qrexecMissing}`);

describe.skipIf(qrexecMissing)("Qubes' own linter and parser on the shipped policy", () => {
  it('qubes-policy-lint accepts policy/30-detbuild.policy', () => {
    expect(lintPolicy([POLICY_PATH])).toEqual({ status: 0, output: '' });
  });

  it('qubes-policy-lint refuses a broken copy, naming the file and line (the check can fail)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'detbuild-policy-'));
    try {
      const broken = path.join(dir, '30-detbuild.policy');
      const lines = policyText.split('\n');
      const at = lines.findIndex((l) => l.startsWith('qubes.DetBuild'));
      lines[at] = `${lines[at]} # an inline comment is a syntax error`;
      await writeFile(broken, lines.join('\n'));
      const r = lintPolicy([broken]);
      expect(r.status).not.toBe(0);
      expect(r.output).toContain(`${broken}:${at + 1}:`);
      expect(() => parsePolicy(lines.join('\n'), '30-detbuild.policy')).toThrow(PolicySyntaxError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(qrexecMissing)('policy/30-detbuild.policy', () => {
  const parsed: ParsedPolicy = qrexecMissing ? { rules: [] } : parsePolicy(policyText, '30-detbuild.policy');
  const later: ParsedPolicy = qrexecMissing ? { rules: [] } : parsePolicy(LATER_POLICY, '90-later.policy');
  const machine = system();
  const all = cases();
  const decisions: Decision[] = qrexecMissing ? [] : evaluateAll([...parsed.rules, ...later.rules], machine, all.map((c) => c.request));

  it('is a valid v5 policy of plain rules, named as policy.d requires', () => {
    expect(policyText.split('\n').filter((l) => l.trimStart().startsWith('!'))).toEqual([]);
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

  it.each(all.map((c, i) => [c.why, c, i] as const))('%s', (_why, c, i) => {
    const decision = decisions[i]!;
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
    const alone = evaluateAll(later.rules, machine, all.map((c) => c.request));
    const opened = all.filter((c, i) => c.expect === 'deny' && alone[i]!.action !== 'deny');
    expect(opened.length).toBeGreaterThan(20);
  });
});
