/**
 * Qubes' own qrexec policy parser and evaluator (qubes-core-qrexec's
 * `qrexec.policy.parser`, from the snapshot in ../shared/upstream/), driven
 * through test/dom0/qrexec_upstream.py, so that the tests check
 * policy/30-detbuild.policy with the code dom0 runs, not a reimplementation.
 *
 * parsePolicy() gives the rules as Qubes parsed them; evaluate() answers a
 * request against the files those rules came from, in the order given (as
 * /etc/qubes/policy.d is read): the first matching rule decides.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { unpackUpstream, upstreamMissing } from '../helpers/upstream.js';

const REPO = 'qubes-core-qrexec';
const DRIVER = fileURLToPath(new URL('./qrexec_upstream.py', import.meta.url));
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Why the policy tests cannot run here (no snapshot), or null. */
export const qrexecMissing: string | null = upstreamMissing(REPO);

export class PolicySyntaxError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
    this.name = 'PolicySyntaxError';
  }
}

export type Action = 'allow' | 'deny' | 'ask';

export interface Rule {
  file: string;
  line: number;
  /** null: '*' */
  service: string | null;
  /** null: '*'; '+' is "no argument" */
  argument: string | null;
  source: string;
  target: string;
  action: Action;
  params: Record<string, string>;
}

export interface ParsedPolicy {
  rules: Rule[];
}

export interface Qube {
  type: 'AdminVM' | 'AppVM' | 'TemplateVM' | 'StandaloneVM' | 'DispVM';
  tags: string[];
  templateForDispvms?: boolean;
  /** the qube's default_dispvm property (null: none) */
  defaultDispvm?: string | null;
}

export type System = Record<string, Qube>;

export interface Request {
  service: string;
  /** '+' when the call has no argument */
  argument: string;
  source: string;
  /** as the caller asked: a name, '@default', '@dispvm', '@dispvm:NAME', '@adminvm', 'dom0' */
  target: string;
}

export interface Decision {
  action: Action;
  /** the rule that decided, or null (no rule matched, or the request itself was refused) */
  rule: Rule | null;
  /** for allow: where the call goes */
  target?: string;
  reason?: string;
}

interface PolicyFile {
  name: string;
  text: string;
}

/** Each parsed rule remembers the file it came from, so evaluate() can hand Qubes the files themselves. */
const origin = new WeakMap<Rule, PolicyFile>();

function run<T>(job: object): T {
  const pythonPath = unpackUpstream(REPO);
  const r = spawnSync(PYTHON, [DRIVER], {
    input: JSON.stringify(job),
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: pythonPath, PYTHONDONTWRITEBYTECODE: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`qrexec policy driver failed (${r.status}): ${r.stderr.trim()}`);
  const answer = JSON.parse(r.stdout) as T & { error?: { file: string; line: number; message: string } };
  if (answer.error) throw new PolicySyntaxError(answer.error.file, answer.error.line, answer.error.message);
  return answer;
}

export function parsePolicy(text: string, file = 'string.policy'): ParsedPolicy {
  const source: PolicyFile = { name: file, text };
  const { rules } = run<{ rules: Rule[] }>({ op: 'parse', files: [source] });
  for (const rule of rules) origin.set(rule, source);
  return { rules };
}

export function evaluate(rules: readonly Rule[], system: System, request: Request): Decision {
  return evaluateAll(rules, system, [request])[0]!;
}

/** Many requests in one run of Qubes' evaluator. */
export function evaluateAll(rules: readonly Rule[], system: System, requests: readonly Request[]): Decision[] {
  const files: PolicyFile[] = [];
  for (const rule of rules) {
    const f = origin.get(rule);
    if (!f) throw new Error('evaluate() takes rules returned by parsePolicy()');
    if (!files.includes(f)) files.push(f);
  }
  const counted = files.reduce((n, f) => n + rules.filter((r) => origin.get(r) === f).length, 0);
  if (counted !== rules.length || files.some((f, i) => files.indexOf(f) !== i)) throw new Error('evaluate() takes whole parsed files');
  const byPlace = new Map(rules.map((r) => [`${r.file}:${r.line}`, r]));
  const { decisions } = run<{ decisions: Array<{ action: Action; file: string | null; line: number | null; target?: string; reason?: string }> }>({
    op: 'evaluate',
    files,
    system,
    requests,
  });
  return decisions.map((d) => ({
    action: d.action,
    rule: d.file === null ? null : (byPlace.get(`${d.file}:${d.line}`) ?? null),
    ...(d.target !== undefined ? { target: d.target } : {}),
    ...(d.reason !== undefined ? { reason: d.reason } : {}),
  }));
}

/** Runs Qubes' linter (`qubes-policy-lint`) on policy files; returns its exit status and output. */
export function lintPolicy(paths: string[]): { status: number; output: string } {
  const r = spawnSync(PYTHON, ['-m', 'qrexec.tools.qubes_policy_lint', ...paths], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: unpackUpstream(REPO), PYTHONDONTWRITEBYTECODE: '1' },
  });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}`.trim() };
}
